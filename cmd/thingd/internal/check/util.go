package check

import (
	"fmt"
	"math"
	"net/url"
	"time"
)

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// ms is a duration for JSON: milliseconds with microsecond precision.
func ms(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}

// human rounds a duration to what a person compares with a calendar or a stopwatch.
func human(d time.Duration) string {
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

// signed is human with an explicit sign, for clock offsets.
func signed(d time.Duration) string {
	if h := human(d); h == "0s" {
		return h
	}
	if d < 0 {
		return "-" + human(d)
	}
	return "+" + human(d)
}

// redact hides a proxy password: the output of check gets pasted into tickets.
func redact(proxy string) string {
	u, err := url.Parse(proxy)
	if err != nil || u.User == nil {
		return proxy
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxx")
	}
	return u.String()
}
