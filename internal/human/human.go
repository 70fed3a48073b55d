// Package human words values for the person reading them: durations the way one compares
// them with a calendar or a stopwatch, and outside text flattened onto one line. It sits
// below tls/, systemd/, the daemon and the CLI so they all say these things alike.
package human

import (
	"fmt"
	"time"
)

// Duration rounds |d| to what matters at its size: whole days past two days, seconds past
// a minute, milliseconds past a second, microseconds below (a round trip on loopback).
// Callers whose inputs carry meaningless sub-second noise (a certificate's NotBefore
// against the clock) round it away first.
func Duration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	const day = 24 * time.Hour
	switch {
	case d >= 10*day:
		return fmt.Sprintf("%d days", (d+day/2)/day)
	case d >= 2*day:
		return fmt.Sprintf("%d days %dh", d/day, (d%day)/time.Hour)
	case d >= time.Minute:
		return d.Round(time.Second).String()
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Microsecond).String()
}

// Signed is Duration with an explicit sign, for clock offsets.
func Signed(d time.Duration) string {
	h := Duration(d)
	switch {
	case h == "0s":
		return h
	case d < 0:
		return "-" + h
	}
	return "+" + h
}
