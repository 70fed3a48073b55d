package systemd

import (
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNotifierSendsStates checks each call puts exactly its assignment on the
// wire, and that a multi-line status arrives as one line.
func TestNotifierSendsStates(t *testing.T) {
	tests := []struct {
		name string
		call func(*Notifier) error
		want string
	}{
		{"ready", (*Notifier).Ready, "READY=1"},
		{"stopping", (*Notifier).Stopping, "STOPPING=1"},
		{"status", func(n *Notifier) error { return n.Status("connected; queue 0") }, "STATUS=connected; queue 0"},
		{"status with line breaks", func(n *Notifier) error { return n.Status("clock synced\nqueue 3\r\nREADY=1\r") }, "STATUS=clock synced queue 3 READY=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sock := listenNotify(t)
			if err := tt.call(NewNotifier(nil)); err != nil {
				t.Fatal(err)
			}
			sock.expect(t, tt.want)
		})
	}
}

// TestStatusSendsOnlyChanges checks a repeated status line is not resent;
// READY=1 marks the end so a resent line would show up before it.
func TestStatusSendsOnlyChanges(t *testing.T) {
	sock := listenNotify(t)
	n := NewNotifier(nil)
	for _, line := range []string{"a", "a", "a\n", "b", "b", "a"} {
		if err := n.Status(line); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Ready(); err != nil {
		t.Fatal(err)
	}
	sock.expect(t, "STATUS=a", "STATUS=b", "STATUS=a", "READY=1")
}

// TestStatusRetriesAfterFailure checks a status that failed to go out is
// sent by the next identical call instead of being taken as already shown.
func TestStatusRetriesAfterFailure(t *testing.T) {
	n := NewNotifier(nil)
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "missing.sock"))
	err := n.Status("queue 1")
	if err == nil || !strings.Contains(err.Error(), "STATUS") || !strings.Contains(err.Error(), "NOTIFY_SOCKET") {
		t.Fatalf("Status to a missing socket: err = %v, want one naming STATUS and NOTIFY_SOCKET", err)
	}
	sock := listenNotify(t)
	if err := n.Status("queue 1"); err != nil {
		t.Fatal(err)
	}
	sock.expect(t, "STATUS=queue 1")
}

// TestReloadingCarriesMonotonicUsec checks RELOADING=1 comes with a
// MONOTONIC_USEC taken from CLOCK_MONOTONIC at the time of the call.
func TestReloadingCarriesMonotonicUsec(t *testing.T) {
	sock := listenNotify(t)
	before, err := monotonicUsec()
	if err != nil {
		t.Fatal(err)
	}
	if err := NewNotifier(nil).Reloading(); err != nil {
		t.Fatal(err)
	}
	after, err := monotonicUsec()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(sock.next(t), "\n")
	if len(lines) != 2 || lines[0] != "RELOADING=1" || !strings.HasPrefix(lines[1], "MONOTONIC_USEC=") {
		t.Fatalf("reload notification lines = %q, want RELOADING=1 then MONOTONIC_USEC=", lines)
	}
	usec, err := strconv.ParseInt(strings.TrimPrefix(lines[1], "MONOTONIC_USEC="), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if usec < before || usec > after {
		t.Fatalf("MONOTONIC_USEC=%d, want within [%d, %d]", usec, before, after)
	}
}

// TestReloadingClockError checks a failed clock read is reported and
// nothing half-formed is sent.
func TestReloadingClockError(t *testing.T) {
	n := NewNotifier(nil)
	clockErr := errors.New("no monotonic clock")
	n.monotonicUsec = func() (int64, error) { return 0, clockErr }
	n.send = func(state string) error {
		t.Errorf("sent %q after the clock read failed", state)
		return nil
	}
	if err := n.Reloading(); !errors.Is(err, clockErr) {
		t.Fatalf("Reloading() = %v, want it to wrap %v", err, clockErr)
	}
}

// TestNoSocketIsNoop checks that outside systemd nothing fails.
func TestNoSocketIsNoop(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n := NewNotifier(nil)
	for name, call := range map[string]func() error{
		"Ready": n.Ready, "Stopping": n.Stopping, "Reloading": n.Reloading,
		"Status": func() error { return n.Status("x") },
	} {
		if err := call(); err != nil {
			t.Errorf("%s without NOTIFY_SOCKET: %v", name, err)
		}
	}
}
