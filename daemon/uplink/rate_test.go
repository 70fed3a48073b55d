package uplink

import "testing"

// TestSetRateWhileRunning: a new rate applies to the running drain (a setting from the
// shadow). Paced at 1 publish/s, 100 records would take 100 s, far past the guard; lifted,
// they go at once.
func TestSetRateWhileRunning(t *testing.T) {
	src := newFakeSource(100)
	link := newFakeLink()
	link.publish = func(d *fakeDelivery) { d.complete(nil) }
	u, _ := start(t, Options{Source: src, Link: link, Rate: 1})
	waitFor(t, "the first publish", func() bool { n, _, _ := link.stats(); return n >= 1 })
	u.SetRate(0)
	waitFor(t, "100 publishes once unpaced", func() bool { n, _, _ := link.stats(); return n == 100 })
}
