package testbed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Process is one run of a program started through the testbed (its own daemons, or a command a
// caller prepared with ClockSafeCommand): reaped in the background, stopped only by its PID.
type Process struct {
	name    string
	logFile string // "" when the caller routed the output itself
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has been reaped
	err     error         // Wait's result, valid after done
}

// NotInstalledError says a program the testbed needs is missing, and which package installs it.
// The testing.T launchers skip on it (fail under CI=true); other callers print it.
type NotInstalledError struct{ Bin, Package string }

func (e *NotInstalledError) Error() string {
	return e.Bin + " is not installed; install it with: apt-get install -y " + e.Package
}

// Tool returns the absolute path of bin, or a *NotInstalledError naming aptPkg.
func Tool(bin, aptPkg string) (string, error) {
	if p, err := LookPath(bin); err == nil {
		return p, nil
	}
	return "", &NotInstalledError{Bin: bin, Package: aptPkg}
}

// fail ends t with err: a missing program skips the test, except under CI=true, where a skipped
// integration test would hide a missing install step.
func fail(t testing.TB, err error) {
	t.Helper()
	var ni *NotInstalledError
	if errors.As(err, &ni) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	t.Fatal(err)
}

// fakeTimeEnv returns the environment that makes a process (and all it execs) see the clock
// fakeDays ahead. libfaketime is preloaded directly instead of through faketime(1), because
// faketime forks and would leave the daemon orphaned when its own PID is killed.
func fakeTimeEnv(fakeDays int) ([]string, error) {
	if fakeDays == 0 {
		return nil, nil
	}
	if _, err := Tool("faketime", "faketime"); err != nil {
		return nil, err
	}
	libs, _ := filepath.Glob("/usr/lib/*/faketime/libfaketime.so.1")
	if len(libs) == 0 {
		return nil, &NotInstalledError{Bin: "libfaketime.so.1 (under /usr/lib/*/faketime)", Package: "faketime"}
	}
	return []string{"LD_PRELOAD=" + libs[0], fmt.Sprintf("FAKETIME=%+dd", fakeDays)}, nil
}

// launchProc starts argv with CAP_SYS_TIME dropped, extra environment env, and stdout/stderr
// appended to logFile.
func launchProc(name, logFile string, env []string, argv ...string) (*Process, error) {
	cmd, err := ClockSafeCommand(context.Background(), env, argv...)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open the log of %s: %w", name, err)
	}
	defer f.Close() // the child holds its own descriptor
	cmd.Stdout, cmd.Stderr = f, f
	p, err := StartProcess(name, cmd)
	if err != nil {
		return nil, err
	}
	p.logFile = logFile
	return p, nil
}

// ClockSafeCommand returns argv run through setpriv without CAP_SYS_TIME, with env added to
// this process's environment, not started; ctx kills it (by PID) when done. setpriv execs the
// program, so the PID is the program's own and /proc/<pid> describes it.
func ClockSafeCommand(ctx context.Context, env []string, argv ...string) (*exec.Cmd, error) {
	setpriv, err := Tool("setpriv", "util-linux")
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, setpriv, SetprivArgs(argv[0], argv[1:]...)...)
	cmd.Env = append(os.Environ(), env...)
	return cmd, nil
}

// StartProcess starts a prepared command (from ClockSafeCommand) and reaps it in the background.
func StartProcess(name string, cmd *exec.Cmd) (*Process, error) {
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, strings.Join(cmd.Args, " "), err)
	}
	p := &Process{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// PID is the process's ID.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Done is closed once the process has ended and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitCode waits for the process to end and returns its exit status; -1 for a signal.
func (p *Process) ExitCode() int {
	<-p.done
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		return -1
	}
	return 0
}

// Stop ends the process by PID: SIGTERM, then SIGKILL if it lingers past grace. It waits until
// it is reaped, and says so when it had to kill it.
func (p *Process) Stop(grace time.Duration) error {
	if p.Exited() {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	p.Kill()
	where := ""
	if p.logFile != "" {
		where = "; its log is " + p.logFile
	}
	return fmt.Errorf("%s (pid %d) ignored SIGTERM for %v and was killed%s", p.name, p.PID(), grace, where)
}

// Kill sends SIGKILL (by PID) and waits until the process is reaped.
func (p *Process) Kill() {
	if p.Exited() {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// startupError is the error of a daemon that did not come up: what was waited for, why, and the
// last lines of its log, so the reader sees the daemon's own complaint. It stops p.
func (p *Process) startupError(what string, err error) error {
	_ = p.Stop(5 * time.Second)
	if err == nil {
		err = errors.New("exit status 0")
	}
	return fmt.Errorf("%s: %w\nlast lines of %s:\n%s", what, err, p.logFile, logTail(p.logFile, 20))
}

// logTail returns the last n lines of a log file, for failure messages.
func logTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// logOnFailure prints the tail of a daemon's log when the test fails, so a broken broker or NTP
// server explains itself in the test output.
func logOnFailure(t testing.TB, name, path string) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last lines of %s log %s:\n%s", name, path, logTail(path, 40))
		}
	})
}

// launchDir is dir, or a fresh temporary directory that the launcher's Close removes.
func launchDir(dir, pattern string) (string, bool, error) {
	if dir != "" {
		return dir, false, os.MkdirAll(dir, 0o700)
	}
	d, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", false, fmt.Errorf("make a temporary directory: %w", err)
	}
	return d, true, nil
}
