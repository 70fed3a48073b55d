package handler

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// sh is the argv for a shell script in a test; the handler itself never adds a shell.
// Arguments after the script are $1, $2, ...
func sh(script string, args ...string) []string {
	return append([]string{"/bin/sh", "-c", script, "sh"}, args...)
}

func observed() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(core), logs
}

// newExec builds an Exec that the test closes on cleanup, killing anything left after 10 s.
func newExec(t *testing.T, argv []string, o ExecOptions) *Exec {
	t.Helper()
	e, err := NewExec(argv, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.Close(ctx)
	})
	return e
}

// waitFor polls cond until it holds; the deadline only keeps a broken build from hanging.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// processGone reports whether pid has exited (gone, or a zombie waiting for its new parent).
func processGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	_, after, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(after, "Z") || strings.HasPrefix(after, "X")
}

// killLater makes sure a process a test started does not outlive it, whatever happened.
func killLater(t *testing.T, pidFile string) {
	t.Cleanup(func() {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 && !processGone(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
}

// TestExecPayloadTopicAndEnv: the program gets the whole payload on stdin (more than a pipe
// buffer, with NUL bytes), THINGD_TOPIC, and thingd's own environment; exit 0 is logged at info.
func TestExecPayloadTopicAndEnv(t *testing.T) {
	t.Setenv("THINGD_TEST_INHERITED", "from-parent")
	out := filepath.Join(t.TempDir(), "out")
	log, logs := observed()
	e := newExec(t, sh(`cat > "$1"; printf %s "$THINGD_TOPIC" > "$1.topic"; printf %s "$THINGD_TEST_INHERITED" > "$1.env"`, out),
		ExecOptions{Logger: log})

	payload := bytes.Repeat([]byte("payload\x00\xff\n"), 20000) // 200 kB > 64 KiB pipe buffer
	if err := e.Handle(context.Background(), "cmd/raspi2-test/reboot", payload); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, out); got != string(payload) {
		t.Errorf("stdin delivered %d bytes, want the %d-byte payload", len(got), len(payload))
	}
	if got := readFile(t, out+".topic"); got != "cmd/raspi2-test/reboot" {
		t.Errorf("THINGD_TOPIC = %q", got)
	}
	if got := readFile(t, out+".env"); got != "from-parent" {
		t.Errorf("inherited variable = %q, want from-parent", got)
	}
	entries := logs.FilterMessage("handler finished").All()
	if len(entries) != 1 || entries[0].Level != zapcore.InfoLevel || entries[0].ContextMap()["exit_code"] != int64(0) {
		t.Errorf("log entries %v, want one info 'handler finished' with exit_code 0", logs.All())
	}
}

// TestExecNoShell: argv reaches the program untouched; ";", "$(...)", backquotes, "$VAR" and
// globs are not interpreted.
func TestExecNoShell(t *testing.T) {
	printf, err := exec.LookPath("printf")
	if err != nil || !filepath.IsAbs(printf) {
		t.Skipf("no printf program: %v", err)
	}
	dir := t.TempDir()
	pwned := filepath.Join(dir, "pwned")
	args := []string{"a;b", "$(touch " + pwned + ")", "`touch " + pwned + "2`", "$HOME", "*", "x > " + pwned + "3", "; touch " + pwned + "4"}
	log, logs := observed()
	e := newExec(t, append([]string{printf, "%s|"}, args...), ExecOptions{Logger: log})
	if err := e.Handle(context.Background(), "t", nil); err != nil {
		t.Fatal(err)
	}
	entries := logs.FilterMessage("handler finished").All()
	if len(entries) != 1 {
		t.Fatalf("log entries %v", logs.All())
	}
	if got, want := entries[0].ContextMap()["stdout"], strings.Join(args, "|")+"|"; got != want {
		t.Errorf("program saw %q, want %q", got, want)
	}
	if matches, _ := filepath.Glob(pwned + "*"); len(matches) > 0 {
		t.Errorf("a shell ran parts of argv: %v exist", matches)
	}
}

// TestExecFailureLoggedWithOutput: a non-zero exit is a warn with the exit code and the tail of
// stdout and stderr, each cut to OutputLimit.
func TestExecFailureLoggedWithOutput(t *testing.T) {
	log, logs := observed()
	e := newExec(t, sh(`head -c 10000 /dev/zero | tr '\0' x; printf 'start'; echo 'disk full' >&2; exit 3`), ExecOptions{Logger: log})
	err := e.Handle(context.Background(), "t", nil)
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 3 {
		t.Fatalf("Handle = %v, want exit status 3", err)
	}
	entries := logs.FilterMessage("handler failed").All()
	if len(entries) != 1 || entries[0].Level != zapcore.WarnLevel {
		t.Fatalf("log entries %v, want one warn 'handler failed'", logs.All())
	}
	f := entries[0].ContextMap()
	stdout, _ := f["stdout"].(string)
	if len(stdout) != DefaultOutputLimit || !strings.HasSuffix(stdout, "xstart") {
		t.Errorf("stdout logged = %d bytes ending %q, want the last %d bytes", len(stdout), stdout[max(0, len(stdout)-10):], DefaultOutputLimit)
	}
	if f["stdout_dropped_bytes"] != int64(10005-DefaultOutputLimit) || f["stderr"] != "disk full\n" || f["exit_code"] != int64(3) {
		t.Errorf("fields %v", f)
	}
}

// TestExecTimeoutKillsProcessGroup: at the timeout the program and what it started are killed,
// the run is logged at warn and Handle reports ErrTimeout.
func TestExecTimeoutKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "sleep.pid")
	killLater(t, pidFile)
	log, logs := observed()
	// sleep runs as the shell's child: killing only the shell would leave it running.
	e := newExec(t, sh(`sleep 60 & echo $! > "$1"; wait`, pidFile), ExecOptions{Timeout: time.Second, Logger: log})
	err := e.Handle(context.Background(), "t", nil)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Handle = %v, want ErrTimeout", err)
	}
	pid, perr := strconv.Atoi(strings.TrimSpace(readFile(t, pidFile)))
	if perr != nil {
		t.Fatal(perr)
	}
	waitFor(t, "the grandchild sleep to die", func() bool { return processGone(pid) })
	if n := len(logs.FilterMessage("handler timed out; killed it and its process group").FilterLevelExact(zapcore.WarnLevel).All()); n != 1 {
		t.Errorf("log entries %v, want one timeout warning", logs.All())
	}
}

// TestExecAcceptReturnsWhileRunning: Accept returns once the payload is handed over, not when
// the program exits; Close waits for the exit. (The program gives up waiting after about 30 s,
// so that an Accept that wrongly waits for the exit fails the test instead of hanging it.)
func TestExecAcceptReturnsWhileRunning(t *testing.T) {
	dir := t.TempDir()
	e := newExec(t, sh(`cat > "$1/in"
i=0; while [ ! -e "$1/go" ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i+1)); done
touch "$1/done"`, dir), ExecOptions{})
	payload := []byte("hello")
	if err := e.Accept(context.Background(), "t", payload); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "done")); err == nil {
		t.Fatal("the program finished before Accept returned; Accept must not wait for the exit")
	}
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "done")); err != nil {
		t.Errorf("Close returned before the program finished: %v", err)
	}
	if got := readFile(t, filepath.Join(dir, "in")); got != "hello" {
		t.Errorf("stdin = %q", got)
	}
	if err := e.Accept(context.Background(), "t", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Accept after Close = %v, want ErrClosed", err)
	}
}

// TestExecConcurrencyBound: never more than MaxConcurrent programs run at once (each counts the
// running-marker files when it starts), and Accept blocks while all slots are busy.
func TestExecConcurrencyBound(t *testing.T) {
	const limit, messages = 2, 5
	dir := t.TempDir()
	script := `touch "$1/run.$$"; ls "$1" | grep -c '^run\.' > "$1/count.$$"
while [ ! -e "$1/go" ]; do sleep 0.01; done
rm "$1/run.$$"`
	e := newExec(t, sh(script, dir), ExecOptions{MaxConcurrent: limit})
	running := func() int {
		m, _ := filepath.Glob(filepath.Join(dir, "run.*"))
		return len(m)
	}

	var wg sync.WaitGroup
	errs := make(chan error, messages)
	for i := 0; i < messages; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- e.Accept(context.Background(), "t", nil)
		}()
	}
	waitFor(t, "two programs to run", func() bool { return running() >= limit })

	// All slots busy: Accept must wait, and give up when its context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := e.Accept(ctx, "t", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Accept with all slots busy = %v, want it to block until its context ended", err)
	}
	if n := running(); n != limit {
		t.Errorf("%d programs running, want %d", n, limit)
	}

	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	counts, _ := filepath.Glob(filepath.Join(dir, "count.*"))
	if len(counts) != messages {
		t.Fatalf("%d runs, want %d", len(counts), messages)
	}
	for _, c := range counts {
		if n, err := strconv.Atoi(strings.TrimSpace(readFile(t, c))); err != nil || n > limit || n < 1 {
			t.Errorf("a run saw %q programs running, want 1..%d", readFile(t, c), limit)
		}
	}
}

// TestExecAcceptGivesUpWhileWriting: a program that never reads a large payload keeps Accept
// blocked; when Accept's context ends the program is killed and the message is not accepted.
func TestExecAcceptGivesUpWhileWriting(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	killLater(t, pidFile)
	e := newExec(t, sh(`echo $$ > "$1"; exec sleep 60`, pidFile), ExecOptions{Timeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer cancel()
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if b, _ := os.ReadFile(pidFile); len(b) > 0 {
				return
			}
		}
	}()
	err := e.Accept(ctx, "t", make([]byte, 1<<20))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Accept = %v, want context.Canceled", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(readFile(t, pidFile)))
	waitFor(t, "the program to be killed", func() bool { return processGone(pid) })
}

// TestExecUnreadPayloadIsAccepted: a program that exits without reading stdin still took the
// message (it ran); this is logged, not an error, so the broker does not redeliver it.
func TestExecUnreadPayloadIsAccepted(t *testing.T) {
	log, logs := observed()
	e := newExec(t, []string{"/bin/true"}, ExecOptions{Logger: log})
	if err := e.Handle(context.Background(), "t", make([]byte, 1<<20)); err != nil {
		t.Fatalf("Handle = %v, want nil", err)
	}
	if len(logs.FilterMessage("handler did not read its whole payload").All()) != 1 {
		t.Errorf("log entries %v, want a note that the payload was not read", logs.All())
	}
}

// TestExecMissingProgram: a program that does not exist fails Accept with its path, and the slot
// is given back (a second message fails the same way instead of blocking).
func TestExecMissingProgram(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "on-command")
	e := newExec(t, []string{missing}, ExecOptions{MaxConcurrent: 1})
	for i := 0; i < 2; i++ {
		err := e.Accept(context.Background(), "t", []byte("x"))
		if err == nil || !strings.Contains(err.Error(), missing) {
			t.Fatalf("Accept = %v, want an error naming %s", err, missing)
		}
	}
}

// TestExecCloseKillsAtDeadline: Close whose context ends kills running programs, waits for
// them, and reports the context's error.
func TestExecCloseKillsAtDeadline(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "sleep.pid")
	killLater(t, pidFile)
	log, logs := observed()
	e, err := NewExec(sh(`sleep 60 & echo $! > "$1"; wait`, pidFile), ExecOptions{Timeout: time.Hour, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Accept(context.Background(), "t", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the program to start", func() bool { b, _ := os.ReadFile(pidFile); return len(b) > 0 })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close = %v, want context.Canceled", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(readFile(t, pidFile)))
	waitFor(t, "the grandchild sleep to die", func() bool { return processGone(pid) })
	if len(logs.FilterMessage("handler killed").All()) != 1 {
		t.Errorf("log entries %v, want one 'handler killed'", logs.All())
	}
}

func TestNewExecRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		argv []string
		o    ExecOptions
	}{
		{"nil argv", nil, ExecOptions{}},
		{"empty program", []string{""}, ExecOptions{}},
		{"negative timeout", []string{"/bin/true"}, ExecOptions{Timeout: -time.Second}},
		{"negative concurrency", []string{"/bin/true"}, ExecOptions{MaxConcurrent: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewExec(tc.argv, tc.o); err == nil {
				t.Error("NewExec accepted it")
			}
		})
	}
}

func TestTailBuffer(t *testing.T) {
	w := newTailBuffer(5)
	for _, s := range []string{"ab", "cd", "efg", "", "h"} {
		_, _ = w.Write([]byte(s))
	}
	if w.String() != "defgh" || w.dropped() != 3 {
		t.Errorf("kept %q dropped %d, want \"defgh\" and 3", w.String(), w.dropped())
	}
	_, _ = w.Write([]byte("0123456789"))
	if w.String() != "56789" || w.dropped() != 13 {
		t.Errorf("kept %q dropped %d, want \"56789\" and 13", w.String(), w.dropped())
	}
}

// Handler is what the session uses; both kinds satisfy it.
var _ = []Handler{(*Exec)(nil), (*File)(nil)}

// TestChildEnvDropsSystemdVariables: a handler never gets thingd's notify socket or watchdog.
func TestChildEnvDropsSystemdVariables(t *testing.T) {
	got := childEnv([]string{"PATH=/bin", "NOTIFY_SOCKET=/run/systemd/notify", "WATCHDOG_USEC=30000000", "WATCHDOG_PID=1", "HOME=/x"})
	if strings.Join(got, " ") != "PATH=/bin HOME=/x" {
		t.Errorf("childEnv = %q", got)
	}
}
