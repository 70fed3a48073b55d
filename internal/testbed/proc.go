package testbed

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// proc is one run of a daemon the testbed started: its output goes to a log file whose tail is
// shown when the test fails.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has been reaped
	err  error         // Wait's result, valid after done
}

// fakeTimeEnv returns the environment that makes a process (and all it execs) see the clock
// fakeDays ahead. libfaketime is preloaded directly instead of through faketime(1), because
// faketime forks and would leave the daemon orphaned when its own PID is killed.
func fakeTimeEnv(t testing.TB, fakeDays int) []string {
	t.Helper()
	if fakeDays == 0 {
		return nil
	}
	Require(t, "faketime", "faketime")
	libs, _ := filepath.Glob("/usr/lib/*/faketime/libfaketime.so.1")
	if len(libs) == 0 {
		msg := "libfaketime.so.1 not found under /usr/lib/*/faketime; install it with: apt-get install -y faketime"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return []string{"LD_PRELOAD=" + libs[0], fmt.Sprintf("FAKETIME=%+dd", fakeDays)}
}

// startProc starts argv with CAP_SYS_TIME dropped, extra environment env, and stdout/stderr
// appended to logFile. The caller registers p.stop with t.Cleanup, so that it can order it after
// the cleanups of the clients that talk to the process.
func startProc(t testing.TB, name, logFile string, env []string, argv ...string) *proc {
	t.Helper()
	cmd := clockSafeCommand(t, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("open %s log %s: %v", name, logFile, err)
	}
	defer f.Close() // the child holds its own descriptor
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s (%s): %v", name, strings.Join(cmd.Args, " "), err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the process by PID: SIGTERM, then SIGKILL if it lingers. It waits until it is reaped.
func (p *proc) stop(t testing.TB) {
	t.Helper()
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(10 * time.Second):
	}
	t.Logf("%s (pid %d) ignored SIGTERM for 10s; killing it", p.name, p.cmd.Process.Pid)
	_ = p.cmd.Process.Kill()
	<-p.done
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
