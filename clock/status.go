package clock

import (
	"fmt"
	"time"
)

// Status is the clock's state for `thingd status` and systemd's STATUS= line.
type Status struct {
	Synced       bool          // the time is trusted (NTP, or the kernel says another daemon syncs it)
	Offset       time.Duration // trusted time minus the system clock
	Server       string        // where the trusted time comes from: server name(s) or the system clock
	LastSync     time.Time     // trusted time of the last successful sync
	Stepped      bool          // thingd has set the system clock
	KernelSynced bool          // the kernel says another daemon keeps its clock synchronised
	LastError    string        // why the last sync failed; "" after a clean one
	Floor        time.Time     // the earliest time ever reported
}

// Status reports the current state.
func (c *Clock) Status() Status {
	m, w := c.mono(), c.wall().UTC().Round(0)
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Status{
		Synced:       c.st.synced,
		Server:       c.st.source,
		LastSync:     c.st.lastSync,
		Stepped:      c.st.stepped,
		KernelSynced: c.st.kernelSynced,
		LastError:    c.st.lastErr,
		Floor:        c.floor,
	}
	if s.Synced {
		s.Offset = c.st.base.Add(m).Sub(w)
	}
	return s
}

// String is one line for systemd's STATUS=, e.g. "clock synced +3.2ms via 127.0.0.1:12345".
func (s Status) String() string {
	if s.Synced {
		return fmt.Sprintf("clock synced %s via %s", fmtOffset(s.Offset), s.Server)
	}
	why := s.LastError
	if why == "" {
		why = "waiting for the first NTP answer"
	}
	return fmt.Sprintf("clock unsynced (floor %s): %s", s.Floor.Format(time.RFC3339), why)
}

// fmtOffset prints a signed offset with about three significant digits.
func fmtOffset(d time.Duration) string {
	sign := "+"
	if d < 0 {
		sign, d = "-", -d
	}
	switch {
	case d >= time.Minute:
		d = d.Round(time.Second)
	case d >= time.Second:
		d = d.Round(10 * time.Millisecond)
	case d >= 100*time.Millisecond:
		d = d.Round(time.Millisecond)
	case d >= 10*time.Millisecond:
		d = d.Round(100 * time.Microsecond)
	case d >= time.Millisecond:
		d = d.Round(10 * time.Microsecond)
	default:
		d = d.Round(time.Microsecond)
	}
	return sign + d.String()
}
