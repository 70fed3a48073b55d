package systemd

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// enableWatchdog sets the environment systemd gives a unit with WatchdogSec=.
func enableWatchdog(t *testing.T, usec string) {
	t.Helper()
	t.Setenv("WATCHDOG_USEC", usec)
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
}

// runWatchdog starts n.Watchdog and stops it at cleanup, checking it
// returned nil on cancellation.
func runWatchdog(t *testing.T, n *Notifier, healthy func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- n.Watchdog(ctx, healthy) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Watchdog after cancel: %v", err)
			}
		case <-time.After(waitFor):
			t.Errorf("Watchdog did not return within %v of cancel", waitFor)
		}
	})
}

// TestWatchdogPingsWhileHealthy checks WATCHDOG=1 keeps coming, not just once.
func TestWatchdogPingsWhileHealthy(t *testing.T) {
	sock := listenNotify(t)
	enableWatchdog(t, "200000")
	runWatchdog(t, NewNotifier(nil), func() bool { return true })
	sock.expect(t, "WATCHDOG=1", "WATCHDOG=1", "WATCHDOG=1")
}

// TestWatchdogWithholdsPingsWhileUnhealthy checks no WATCHDOG=1 is sent
// while healthy() is false, that this is logged once, and that pings resume.
// The checks are counted instead of timed: once the watchdog asks for the
// fourth time, its first three decisions are on the wire, so a READY=1 sent
// then must be the first datagram.
func TestWatchdogWithholdsPingsWhileUnhealthy(t *testing.T) {
	sock := listenNotify(t)
	enableWatchdog(t, "200000")
	core, logs := observer.New(zap.InfoLevel)
	n := NewNotifier(zap.New(core))

	var ok atomic.Bool
	checks, counted := make(chan struct{}), make(chan struct{})
	stopCounting := sync.OnceFunc(func() { close(counted) })
	runWatchdog(t, n, func() bool {
		select {
		case checks <- struct{}{}:
		case <-counted:
		}
		return ok.Load()
	})
	t.Cleanup(stopCounting) // runs before runWatchdog's cleanup waits
	for range 4 {
		select {
		case <-checks:
		case <-time.After(waitFor):
			t.Fatalf("watchdog did not check health within %v", waitFor)
		}
	}
	if err := n.Ready(); err != nil {
		t.Fatal(err)
	}
	sock.expect(t, "READY=1")
	if got := logs.FilterMessageSnippet("withheld").Len(); got != 1 {
		t.Errorf("logged the withheld ping %d times, want once", got)
	}

	ok.Store(true)
	stopCounting()
	sock.expect(t, "WATCHDOG=1", "WATCHDOG=1")
	if got := logs.FilterMessageSnippet("resumed").Len(); got != 1 {
		t.Errorf("logged the resumed pings %d times, want once", got)
	}
}

// TestWatchdogEnvironment checks the watchdog stays off without
// WATCHDOG_USEC and names the variable and the unit setting when it is bad.
func TestWatchdogEnvironment(t *testing.T) {
	tests := []struct {
		name    string
		usec    string
		wantErr string
	}{
		{name: "watchdog off", usec: ""},
		{name: "not a number", usec: "abc", wantErr: `WATCHDOG_USEC="abc"`},
		{name: "negative", usec: "-5", wantErr: "WatchdogSec="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enableWatchdog(t, tt.usec)
			err := NewNotifier(nil).Watchdog(context.Background(), func() bool {
				t.Error("health checked although the watchdog is off")
				return true
			})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Watchdog() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Watchdog() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
