package clock

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/beevik/ntp"
)

// Bounds a sample must meet, beyond ntp.Response.Validate.
const (
	maxRTT          = 2 * time.Second
	maxRootDistance = 1500 * time.Millisecond
	maxDisagreement = time.Second // between one server and the median of all
)

// sample is one server's answer as trusted time at Mono() == 0, so answers taken at different
// moments, or across a step of the system clock, compare directly.
type sample struct {
	server string
	base   time.Time
	offset time.Duration // server minus system clock when taken, for logs
	rtt    time.Duration
	// belowFloor marks an answer before a floor that came from the state file: kept, because
	// a saved floor can be wrong, but believed only as believeBelowFloor allows.
	belowFloor bool
}

// CheckResponse applies the library's validity checks and the bounds the clock trusts a
// sample within; thingd check judges servers by the same rule.
func CheckResponse(r *ntp.Response) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("invalid answer: %w", err)
	}
	if r.RTT < 0 || r.RTT > maxRTT {
		return fmt.Errorf("round trip %v is outside 0..%v", r.RTT, maxRTT)
	}
	if r.RootDistance > maxRootDistance {
		return fmt.Errorf("root distance %v is over %v (the server is far from a good reference)", r.RootDistance, maxRootDistance)
	}
	return nil
}

// combine drops samples more than maxDisagreement from the median of all (only with three or
// more: with two there is no majority) and returns the median of the rest, provided a majority
// is left. The median of all is used rather than the median of the others, since with three
// samples the "others" are a pair whose midpoint one bad server drags away from the good one.
func combine(samples []sample) (base time.Time, kept, outliers []sample, err error) {
	if len(samples) == 0 {
		return time.Time{}, nil, nil, fmt.Errorf("no samples")
	}
	kept = samples
	if len(samples) == 2 {
		// Two servers and no third to say which one is right: the midpoint of two times
		// far apart is a time neither server gave.
		if d := samples[0].base.Sub(samples[1].base); d > maxDisagreement || d < -maxDisagreement {
			return time.Time{}, nil, samples, fmt.Errorf("the two NTP servers disagree by %v, more than %v, and there is no third to decide: %s",
				d.Abs().Round(time.Millisecond), maxDisagreement, describe(samples))
		}
	}
	if len(samples) >= 3 {
		m := median(samples)
		kept = nil
		for _, s := range samples {
			if d := s.base.Sub(m); d > maxDisagreement || d < -maxDisagreement {
				outliers = append(outliers, s)
			} else {
				kept = append(kept, s)
			}
		}
		if len(kept) <= len(samples)/2 {
			return time.Time{}, nil, outliers, fmt.Errorf("the NTP servers disagree by more than %v: %s", maxDisagreement, describe(samples))
		}
	}
	return median(kept), kept, outliers, nil
}

func median(samples []sample) time.Time {
	bases := make([]time.Time, len(samples))
	for i, s := range samples {
		bases[i] = s.base
	}
	slices.SortFunc(bases, func(a, b time.Time) int { return a.Compare(b) })
	n := len(bases)
	if n%2 == 1 {
		return bases[n/2]
	}
	lo, hi := bases[n/2-1], bases[n/2]
	return lo.Add(hi.Sub(lo) / 2)
}

func describe(samples []sample) string {
	parts := make([]string, len(samples))
	for i, s := range samples {
		parts[i] = fmt.Sprintf("%s %s", s.server, fmtOffset(s.offset))
	}
	return strings.Join(parts, ", ")
}

func names(samples []sample) string {
	parts := make([]string, len(samples))
	for i, s := range samples {
		parts[i] = s.server
	}
	return strings.Join(parts, ", ")
}
