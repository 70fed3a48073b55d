package clock

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestRunBacksOffAndRecovers: failures wait 2s doubling to 5min; a success waits an hour and
// resets the backoff.
func TestRunBacksOffAndRecovers(t *testing.T) {
	w := newWorld(0)
	srv := &fakeServer{err: errors.New("i/o timeout")}
	w.addServer("ntp:123", srv)
	c, _ := testClock(t, w, nil)
	c.saveTimer = func(time.Duration) <-chan time.Time { return nil }

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var delays []time.Duration
	c.syncTimer = func(d time.Duration) <-chan time.Time {
		mu.Lock()
		defer mu.Unlock()
		delays = append(delays, d)
		w.mu.Lock()
		switch len(delays) {
		case 10:
			srv.err = nil // the network comes up
		case 11:
			srv.err = errors.New("i/o timeout") // and goes down again
		case 13:
			cancel()
		}
		w.mu.Unlock()
		w.advance(d)
		ch := make(chan time.Time, 1)
		ch <- time.Time{}
		return ch
	}
	if err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	s := time.Second
	want := []time.Duration{2 * s, 4 * s, 8 * s, 16 * s, 32 * s, 64 * s, 128 * s, 256 * s, 300 * s, 300 * s, time.Hour, 2 * s, 4 * s}
	mu.Lock()
	defer mu.Unlock()
	if len(delays) != len(want) {
		t.Fatalf("delays = %v, want %v", delays, want)
	}
	for i := range want {
		if delays[i] != want[i] {
			t.Fatalf("delays = %v, want %v", delays, want)
		}
	}
}

// TestRunSavesPeriodically: Trusted closes once Run has synced, and every save tick writes
// the trusted time of that moment.
func TestRunSavesPeriodically(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clock")
	w := newWorld(-time.Hour)
	w.addServer("ntp:123", &fakeServer{})
	c, _ := testClock(t, w, func(o *Options) { o.StateFile = path })
	c.syncTimer = func(time.Duration) <-chan time.Time { return nil }
	var ticks []time.Duration
	savedAt := make(chan time.Time, 1)
	c.saveTimer = func(d time.Duration) <-chan time.Time {
		ticks = append(ticks, d)
		ch := make(chan time.Time, 1)
		if len(ticks) == 1 {
			go func() {
				<-c.Trusted()
				w.advance(d)
				ch <- time.Time{}
			}()
		} else {
			savedAt <- w.trueNow()
		}
		return ch
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	want := <-savedAt
	got, err := loadState(path)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	assertTime(t, "saved by the periodic save", got, want)
	if want.Sub(epoch) != saveInterval || ticks[0] != saveInterval {
		t.Errorf("save interval = %v, want %v", ticks[0], saveInterval)
	}
}
