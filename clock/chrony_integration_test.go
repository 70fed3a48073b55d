package clock_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"thingd/clock"
	"thingd/internal/testbed"
)

// TestSyncWithChronyInTheFuture: against a real chronyd living 1095 days ahead, the clock
// syncs through the real NTP client, trusts that time without touching the system clock, and
// saves it.
func TestSyncWithChronyInTheFuture(t *testing.T) {
	if testing.Short() {
		t.Skip("starts chronyd")
	}
	const days = 1095
	ntpd := testbed.StartChrony(t, testbed.ChronyOptions{FakeDays: days})
	state := filepath.Join(t.TempDir(), "clock")
	c, err := clock.New(clock.Options{
		Servers:   []string{ntpd.Addr},
		Step:      clock.StepNever,
		StateFile: state,
		BuildTime: time.Now().Add(-24 * time.Hour),
		Logger:    zaptest.NewLogger(t),
		SetSystem: func(time.Time) error {
			t.Error("the system clock setter was called with step = never")
			return errors.New("not in tests")
		},
		// This machine's kernel flag must not decide the outcome: the test is about NTP.
		KernelSynced: func() (bool, error) { return false, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	stop := sync.OnceValue(func() error { cancel(); return <-done })
	t.Cleanup(func() { stop() })

	if !c.WaitTrusted(ctx, 30*time.Second) {
		t.Fatalf("no sync with chronyd on %s: %s", ntpd.Addr, c.Status())
	}
	ahead := time.Until(c.Now())
	want := days * 24 * time.Hour
	if d := ahead - want; d < -time.Minute || d > time.Minute {
		t.Errorf("trusted time is %v ahead of the system clock, want about %v", ahead, want)
	}
	st := c.Status()
	if !st.Synced || st.Server != ntpd.Addr || st.Stepped {
		t.Errorf("status = %+v", st)
	}
	t.Logf("status: %s", st)

	if err := stop(); err != nil {
		t.Errorf("Run = %v", err)
	}
	c2, err := clock.New(clock.Options{StateFile: state, Logger: zaptest.NewLogger(t),
		SetSystem: func(time.Time) error { return errors.New("not in tests") }, KernelSynced: func() (bool, error) { return false, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(c2.Floor()) - want; d < -time.Minute || d > time.Minute {
		t.Errorf("floor from the saved state is %s, want about %v ahead", c2.Floor(), want)
	}
}
