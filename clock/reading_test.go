package clock

import (
	"testing"
	"time"
)

// TestRestamp: readings taken before the first sync get their exact trusted time afterwards.
func TestRestamp(t *testing.T) {
	w := newWorld(-400 * 24 * time.Hour)
	w.addServer("ntp:123", &fakeServer{})
	c, _ := testClock(t, w, nil)

	w.advance(5 * time.Second)
	r := c.Mark()
	if r.Trusted {
		t.Fatal("reading before sync marked trusted")
	}
	assertTime(t, "estimate before sync", r.Estimate, c.Floor().Add(5*time.Second))
	if got, ok := c.TimeOf(r); ok || !got.Equal(r.Estimate) {
		t.Fatalf("TimeOf before sync = %s, %v; want the estimate and false", got, ok)
	}
	wantR := w.trueNow()

	w.advance(time.Minute)
	mustSync(t, c)
	w.advance(time.Minute)
	got, ok := c.TimeOf(r)
	if !ok {
		t.Fatal("TimeOf after sync not trusted")
	}
	assertTime(t, "TimeOf", got, wantR)
	if s, ok := c.Stamp(r); !ok || !s.Equal(wantR) {
		t.Errorf("Stamp = %s, %v; want %s, true", s, ok, wantR)
	}
	r2 := c.Mark()
	if !r2.Trusted || !r2.Estimate.Equal(w.trueNow()) {
		t.Errorf("reading after sync = %+v, want trusted %s", r2, w.trueNow())
	}
}

// TestStampNeverBeforeFloor: a trusted time a little before the floor (inside the tolerance
// for a floor saved slightly ahead) is stamped with the floor.
func TestStampNeverBeforeFloor(t *testing.T) {
	w := newWorld(0)
	w.addServer("ntp:123", &fakeServer{})
	floor := epoch.Add(500 * time.Millisecond)
	c, _ := testClock(t, w, func(o *Options) { o.BuildTime = floor })
	r := c.Mark()
	mustSync(t, c)
	if got, _ := c.TimeOf(r); !got.Equal(epoch) {
		t.Fatalf("TimeOf = %s, want %s", got, epoch)
	}
	got, ok := c.Stamp(r)
	if !ok || got.Before(floor) {
		t.Errorf("Stamp = %s, %v; want no earlier than the floor %s", got, ok, floor)
	}
	if now := c.Now(); now.Before(floor) {
		t.Errorf("Now = %s, before the floor %s", now, floor)
	}
}
