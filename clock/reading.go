package clock

import "time"

// Reading is a moment captured by Mark. Collected before the first sync, it can be
// re-stamped with the exact trusted time once the clock syncs.
type Reading struct {
	Mono     time.Duration // the monotonic clock; meaningful only inside this process
	Estimate time.Time     // Now() when the reading was taken
	Trusted  bool          // Estimate was already trusted time
}

// Mark captures the current moment.
func (c *Clock) Mark() Reading {
	m := c.mono()
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.timeAtLocked(m)
	return Reading{Mono: m, Estimate: t, Trusted: ok}
}

// TimeOf is the trusted time of r, true once the clock has synced. Before that it returns
// r.Estimate and false.
func (c *Clock) TimeOf(r Reading) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.st.synced {
		return r.Estimate, false
	}
	return c.st.base.Add(r.Mono), true
}

// Stamp is TimeOf, but never earlier than the floor: the timestamp to send.
func (c *Clock) Stamp(r Reading) (time.Time, bool) {
	t, ok := c.TimeOf(r)
	return later(t, c.Floor()), ok
}
