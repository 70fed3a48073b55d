package session

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// The ceiling doubles from Initial and stays at Max.
func TestBackoffCeilingDoublesToCap(t *testing.T) {
	b := NewBackoff(BackoffOptions{})
	want := []time.Duration{1, 2, 4, 8, 16, 32, 64, 120, 120, 120}
	for i, w := range want {
		if got := b.Ceiling(); got != w*time.Second {
			t.Fatalf("ceiling of wait %d = %v, want %v", i, got, w*time.Second)
		}
		b.Next()
	}
}

// Next asks the random source for a value in [0, ceiling] (n = ceiling+1), so both 0 and the
// ceiling itself are possible waits.
func TestBackoffAsksRandForWholeRange(t *testing.T) {
	for _, pick := range []struct {
		name string
		f    func(n int64) int64
		want func(ceil time.Duration) time.Duration
	}{
		{"lowest", func(int64) int64 { return 0 }, func(time.Duration) time.Duration { return MinWait }}, // the 1 s floor
		{"highest", func(n int64) int64 { return n - 1 }, func(c time.Duration) time.Duration { return c }},
	} {
		t.Run(pick.name, func(t *testing.T) {
			var asked int64
			b := NewBackoff(BackoffOptions{Rand: func(n int64) int64 { asked = n; return pick.f(n) }})
			for range 9 {
				ceil := b.Ceiling()
				got := b.Next()
				if asked != int64(ceil)+1 {
					t.Fatalf("Rand asked for [0,%d), want [0,%d)", asked, int64(ceil)+1)
				}
				if got != pick.want(ceil) {
					t.Fatalf("wait %v under ceiling %v, want %v", got, ceil, pick.want(ceil))
				}
			}
		})
	}
}

// Every wait lies in [0, ceiling], whatever the random source says.
func TestBackoffBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	b := NewBackoff(BackoffOptions{Initial: 500 * time.Millisecond, Max: 30 * time.Second, Rand: r.Int64N})
	for i := range 5000 {
		if i%40 == 0 {
			b.Reset()
		}
		ceil := b.Ceiling()
		if d := b.Next(); d < 0 || d > ceil {
			t.Fatalf("wait %v outside [0, %v]", d, ceil)
		}
	}
}

// Full jitter: at the cap the waits spread over the whole [0, cap], not just near the top
// (equal jitter) or at one value (no jitter).
func TestBackoffFullJitterSpreads(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	b := NewBackoff(BackoffOptions{Rand: r.Int64N})
	for b.Ceiling() < DefaultBackoffMax {
		b.Next()
	}
	const n, buckets = 4000, 10
	var hist [buckets]int
	var sum time.Duration
	for range n {
		d := b.Next()
		sum += d
		i := int(d * buckets / (DefaultBackoffMax + 1))
		hist[i]++
	}
	for i, c := range hist {
		// Uniform: about n/buckets = 400 each; a bucket under 250 means the spread is wrong.
		if c < 250 {
			t.Errorf("bucket %d of [0,%v] got %d of %d waits: not spread like full jitter (%v)", i, DefaultBackoffMax, c, n, hist)
		}
	}
	if mean := sum / n; mean < 50*time.Second || mean > 70*time.Second {
		t.Errorf("mean wait %v, want about half the cap (60s)", mean)
	}
}

// A connection that lasted ResetAfter starts the schedule over; a shorter one does not.
func TestBackoffResetAfterStableConnection(t *testing.T) {
	tests := []struct {
		lasted    time.Duration
		delivered bool
		want      time.Duration
	}{
		{0, false, 16 * time.Second},
		{29 * time.Second, false, 16 * time.Second},
		{30 * time.Second, false, time.Second},
		{time.Hour, false, time.Second},
		{0, true, time.Second}, // up and delivering, then taken over: start again at once
		{5 * time.Second, true, time.Second},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v delivered %v", tt.lasted, tt.delivered), func(t *testing.T) {
			b := NewBackoff(BackoffOptions{})
			for range 4 {
				b.Next()
			}
			b.ConnectionEnded(tt.lasted, tt.delivered)
			if got := b.Ceiling(); got != tt.want {
				t.Errorf("after a connection of %v the ceiling is %v, want %v", tt.lasted, got, tt.want)
			}
		})
	}
}

func TestBackoffOptionsValidate(t *testing.T) {
	for _, o := range []BackoffOptions{
		{Initial: -time.Second},
		{Initial: time.Minute, Max: time.Second},
	} {
		if err := o.withDefaults().validate(); err == nil {
			t.Errorf("%+v: want an error", o)
		}
	}
	if err := (BackoffOptions{}).withDefaults().validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

// A takeover storm (10 connections in a minute, each up and delivering until the next device
// took the client ID over) leaves the device reconnecting within its first ceiling, and no
// wait is below the 1 s floor that keeps AWS IoT's one CONNECT per second per client ID.
func TestBackoffTakeoverStormAndFloor(t *testing.T) {
	for name, r := range map[string]func(int64) int64{
		"lowest":  func(int64) int64 { return 0 },
		"highest": func(n int64) int64 { return n - 1 },
	} {
		t.Run(name, func(t *testing.T) {
			b := NewBackoff(BackoffOptions{Rand: r})
			for range 10 {
				w := b.Next()
				if w < MinWait {
					t.Fatalf("wait %v is below the %v floor", w, MinWait)
				}
				b.ConnectionEnded(5*time.Second, true)
			}
			if w := b.Next(); w > DefaultBackoffInitial || w < MinWait {
				t.Fatalf("after the storm the wait is %v, want %v..%v", w, MinWait, DefaultBackoffInitial)
			}
		})
	}
}
