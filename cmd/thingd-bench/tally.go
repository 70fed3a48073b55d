package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// tally counts the numbered messages of one measurement as they arrive at the main broker's
// subscriber: distinct numbers, duplicates, and the time of each first arrival.
type tally struct {
	mu    sync.Mutex
	want  int
	seen  []bool
	times []time.Time // first arrivals, in arrival order
	dups  int
	bad   int // payloads without a number in range
	full  chan struct{}
}

func newTally(want int) *tally {
	return &tally{want: want, seen: make([]bool, want), times: make([]time.Time, 0, want), full: make(chan struct{})}
}

// add records one arrival; payloads start with the message's number (see payloadLine).
func (t *tally) add(payload []byte, at time.Time) {
	n, ok := leadingNumber(payload)
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case !ok || n >= t.want:
		t.bad++
	case t.seen[n]:
		t.dups++
	default:
		t.seen[n] = true
		t.times = append(t.times, at)
		if len(t.times) == t.want {
			close(t.full)
		}
	}
}

func (t *tally) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.times)
}

// wait returns once every number arrived, or an error saying how many did after timeout
// without a new arrival.
func (t *tally) wait(ctx context.Context, stall time.Duration) error {
	last := -1
	for {
		select {
		case <-t.full:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(stall):
		}
		n := t.count()
		if n == last {
			return fmt.Errorf("%d of %d messages arrived; none for %v", n, t.want, stall)
		}
		last = n
	}
}

// span is the time from the first to the k-th first arrival (k >= 2).
func (t *tally) span(k int) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if k > len(t.times) || k < 2 {
		return 0
	}
	return t.times[k-1].Sub(t.times[0])
}

// rate is messages per second from the first to the last arrival.
func (t *tally) rate() float64 {
	n := t.count()
	d := t.span(n)
	if d <= 0 {
		return 0
	}
	return float64(n-1) / d.Seconds()
}

// windows returns the duration of each successive window of w first arrivals.
func (t *tally) windows(w int) []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []time.Duration
	for i := w; i < len(t.times); i += w {
		out = append(out, t.times[i].Sub(t.times[i-w]))
	}
	return out
}

func leadingNumber(b []byte) (int, bool) {
	n, digits := 0, 0
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
		digits++
	}
	return n, digits > 0
}

func medianDuration(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
