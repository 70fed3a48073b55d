package check

import (
	"math"
	"net/url"
	"time"
)

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// ms is a duration for JSON: milliseconds with microsecond precision.
func ms(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
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
