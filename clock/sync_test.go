package clock

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/beevik/ntp"
)

// TestSyncTakesMedianOffset: trusted time is the true time plus the median server's error,
// whatever the system clock says.
func TestSyncTakesMedianOffset(t *testing.T) {
	w := newWorld(-400 * 24 * time.Hour) // the device thinks it is a year and more ago
	w.addServer("a:123", &fakeServer{skew: -20 * time.Millisecond})
	w.addServer("b:123", &fakeServer{skew: 10 * time.Millisecond})
	w.addServer("c:123", &fakeServer{skew: 30 * time.Millisecond})
	c, _ := testClock(t, w, nil)
	mustSync(t, c)
	w.advance(time.Minute)
	assertTime(t, "Now", c.Now(), w.trueNow().Add(10*time.Millisecond))
	st := c.Status()
	if !st.Synced || st.Server != "a:123, b:123, c:123" {
		t.Errorf("status = %+v, want synced via all three", st)
	}
	if want := 400*24*time.Hour + 10*time.Millisecond; st.Offset != want {
		t.Errorf("offset = %v, want %v", st.Offset, want)
	}
}

// TestOutlierIgnoredAndLogged: with three servers, one an hour off neither moves the time
// nor goes unnoticed.
func TestOutlierIgnoredAndLogged(t *testing.T) {
	w := newWorld(0)
	w.addServer("good1:123", &fakeServer{skew: 0})
	w.addServer("good2:123", &fakeServer{skew: 6 * time.Millisecond})
	w.addServer("liar:123", &fakeServer{skew: time.Hour})
	c, logs := testClock(t, w, nil)
	mustSync(t, c)
	assertTime(t, "Now", c.Now(), w.trueNow().Add(3*time.Millisecond))
	got := logs.FilterMessageSnippet("disagrees").All()
	if len(got) != 1 || got[0].ContextMap()["server"] != "liar:123" {
		t.Errorf("want one log line naming liar:123, got %v", got)
	}
	if st := c.Status(); strings.Contains(st.Server, "liar") {
		t.Errorf("the outlier is listed as a source: %q", st.Server)
	}
}

// TestInvalidSamplesSkipped: each kind of bad answer is dropped and the good server alone
// sets the time; a bad answer alone never syncs.
func TestInvalidSamplesSkipped(t *testing.T) {
	bad := map[string]*fakeServer{
		"kiss of death":    {mangle: func(r *ntp.Response) { r.Stratum = 0; r.ClockOffset += time.Hour }},
		"leap not in sync": {mangle: func(r *ntp.Response) { r.Leap = ntp.LeapNotInSync; r.ClockOffset += time.Hour }},
		"stale reference":  {mangle: func(r *ntp.Response) { r.ReferenceTime = r.Time.Add(-72 * time.Hour) }},
		"rtt too long":     {mangle: func(r *ntp.Response) { r.RTT = 3 * time.Second; r.ClockOffset += time.Hour }},
		"negative rtt":     {mangle: func(r *ntp.Response) { r.RTT = -time.Millisecond; r.ClockOffset += time.Hour }},
		"far from root":    {mangle: func(r *ntp.Response) { r.RootDistance = 2 * time.Second; r.ClockOffset += time.Hour }},
		"no answer":        {err: errors.New("i/o timeout")},
	}
	for name, srv := range bad {
		t.Run(name, func(t *testing.T) {
			w := newWorld(time.Minute)
			w.addServer("bad:123", srv)
			c, _ := testClock(t, w, nil)
			if err := c.syncOnce(context.Background()); err == nil || !strings.Contains(err.Error(), "bad:123") {
				t.Fatalf("sync with only a bad server: err = %v, want an error naming it", err)
			}
			if c.Status().Synced {
				t.Fatal("synced from a bad answer")
			}
			select {
			case <-c.Trusted():
				t.Fatal("Trusted closed by a bad answer")
			default:
			}

			w.addServer("good:123", &fakeServer{skew: 2 * time.Millisecond})
			c, _ = testClock(t, w, nil)
			mustSync(t, c)
			assertTime(t, "Now", c.Now(), w.trueNow().Add(2*time.Millisecond))
			if st := c.Status(); st.Server != "good:123" {
				t.Errorf("source = %q, want good:123", st.Server)
			}
		})
	}
}

// TestAnswerBeforeFloorRejected: a server claiming a time before the floor is not believed.
func TestAnswerBeforeFloorRejected(t *testing.T) {
	w := newWorld(0)
	w.addServer("past:123", &fakeServer{skew: -48 * time.Hour})
	c, _ := testClock(t, w, func(o *Options) { o.BuildTime = epoch.Add(-24 * time.Hour) })
	err := c.syncOnce(context.Background())
	if err == nil || !strings.Contains(err.Error(), "before the clock floor") {
		t.Fatalf("err = %v, want 'before the clock floor'", err)
	}
	if !strings.Contains(c.Status().String(), "before the clock floor") {
		t.Errorf("status line %q does not say why", c.Status().String())
	}
}

// TestWallStepIsNotAppliedTwice: trusted time runs on the monotonic clock, so when another
// daemon steps the system clock, trusted time does not jump with it.
func TestWallStepIsNotAppliedTwice(t *testing.T) {
	w := newWorld(-time.Hour)
	w.addServer("ntp:123", &fakeServer{})
	c, _ := testClock(t, w, nil)
	mustSync(t, c)
	before := c.Now()
	assertTime(t, "Now after sync", before, w.trueNow())

	w.stepWall(0) // someone else corrects the system clock by +1h
	w.advance(time.Second)
	assertTime(t, "Now after the wall step", c.Now(), before.Add(time.Second))
	if off := c.Status().Offset; off != 0 {
		t.Errorf("offset after the wall was corrected = %v, want 0", off)
	}

	w.stepWall(5 * time.Hour) // and now someone sets it wrong
	w.advance(time.Second)
	assertTime(t, "Now after a wrong wall step", c.Now(), before.Add(2*time.Second))
}

// TestStepDecisions: the setter runs only for "auto", more than 1s off and a kernel clock
// nobody else synchronises, and then exactly once.
func TestStepDecisions(t *testing.T) {
	tests := []struct {
		name         string
		step         string
		wallErr      time.Duration
		kernelSynced bool
		wantSets     int
	}{
		{"auto, 1h behind, kernel unsynced", StepAuto, -time.Hour, false, 1},
		{"auto, 2s ahead, kernel unsynced", StepAuto, 2 * time.Second, false, 1},
		{"empty means auto", "", -time.Hour, false, 1},
		{"auto, kernel synced by another daemon", StepAuto, -time.Hour, true, 0},
		{"never", StepNever, -time.Hour, false, 0},
		{"auto, only 0.5s off", StepAuto, 500 * time.Millisecond, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(tt.wallErr)
			w.kernelSynced = tt.kernelSynced
			w.addServer("ntp:123", &fakeServer{})
			c, _ := testClock(t, w, func(o *Options) { o.Step = tt.step })
			for range 3 {
				mustSync(t, c)
				w.advance(time.Hour)
			}
			sets := w.setCalls()
			if len(sets) != tt.wantSets {
				t.Fatalf("setter called %d times, want %d", len(sets), tt.wantSets)
			}
			if tt.wantSets > 0 {
				if d := sets[0].Sub(epoch); d < -time.Millisecond || d > time.Millisecond {
					t.Errorf("set the clock to %s, want the true time %s", sets[0], epoch)
				}
				if !c.Status().Stepped || c.Status().Offset != 0 {
					t.Errorf("status after stepping = %+v, want Stepped and no offset", c.Status())
				}
			}
			assertTime(t, "Now", c.Now(), w.trueNow())
		})
	}
}

// TestNoCapSysTime: EPERM from the setter is said once, never retried, and the time stays right.
func TestNoCapSysTime(t *testing.T) {
	w := newWorld(-time.Hour)
	w.setErr = syscall.EPERM
	w.addServer("ntp:123", &fakeServer{})
	c, logs := testClock(t, w, func(o *Options) { o.Step = StepAuto })
	for range 4 {
		mustSync(t, c)
		w.advance(time.Hour)
	}
	if n := len(w.setCalls()); n != 1 {
		t.Errorf("setter called %d times, want 1", n)
	}
	lines := logs.FilterMessage("no CAP_SYS_TIME: keeping the system clock, using NTP time for TLS and timestamps").All()
	if len(lines) != 1 {
		t.Errorf("got %d CAP_SYS_TIME lines, want 1", len(lines))
	}
	assertTime(t, "Now", c.Now(), w.trueNow())
	if st := c.Status(); st.Stepped || st.Offset != time.Hour {
		t.Errorf("status = %+v, want not stepped, offset 1h", st)
	}
}

// TestKernelSyncedTrustsAtOnce: when another daemon syncs the kernel clock, the time is
// trusted before any NTP answer, and still runs on the monotonic clock.
func TestKernelSyncedTrustsAtOnce(t *testing.T) {
	w := newWorld(0)
	w.kernelSynced = true
	w.addServer("down:123", &fakeServer{err: errors.New("connection refused")})
	c, _ := testClock(t, w, nil)
	if c.WaitTrusted(context.Background(), time.Millisecond) {
		t.Fatal("trusted before anything was checked")
	}
	if err := c.syncOnce(context.Background()); err != nil {
		t.Fatalf("sync with the kernel synced: %v", err)
	}
	if !c.WaitTrusted(context.Background(), time.Millisecond) {
		t.Fatal("not trusted though the kernel clock is synchronised")
	}
	st := c.Status()
	if !st.Synced || !st.KernelSynced || st.Server != sourceKernel || !strings.Contains(st.LastError, "down:123") {
		t.Errorf("status = %+v", st)
	}
	now := c.Now()
	w.stepWall(time.Hour)
	assertTime(t, "Now after a wall step", c.Now(), now)

	// NTP, once it answers, takes over.
	w.servers["down:123"].err = nil
	w.servers["down:123"].skew = 5 * time.Millisecond
	mustSync(t, c)
	assertTime(t, "Now after NTP", c.Now(), w.trueNow().Add(5*time.Millisecond))
	if len(w.setCalls()) != 0 {
		t.Error("stepped a clock that another daemon keeps")
	}
}

// TestWaitTrusted: false while unsynced (bound or ctx), true after the first sync.
func TestWaitTrusted(t *testing.T) {
	w := newWorld(0)
	w.addServer("ntp:123", &fakeServer{})
	c, _ := testClock(t, w, nil)
	if c.WaitTrusted(context.Background(), time.Millisecond) {
		t.Fatal("trusted before sync")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if c.WaitTrusted(ctx, time.Hour) {
		t.Fatal("trusted with a cancelled ctx before sync")
	}
	mustSync(t, c)
	if !c.WaitTrusted(ctx, 0) {
		t.Fatal("not trusted after sync")
	}
}
