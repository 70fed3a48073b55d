package session

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// BackoffOptions shape the reconnect schedule. Zero values mean the defaults.
type BackoffOptions struct {
	Initial    time.Duration // first ceiling; default 1s
	Max        time.Duration // ceiling cap; default 120s
	ResetAfter time.Duration // a connection that lasted this long starts the schedule over; default 30s
	// Rand returns a uniform value in [0, n); nil uses math/rand/v2. Tests inject their own.
	Rand func(n int64) int64
}

// Backoff defaults.
const (
	DefaultBackoffInitial    = time.Second
	DefaultBackoffMax        = 120 * time.Second
	DefaultBackoffResetAfter = 30 * time.Second
	// MinWait is the least wait between two attempts: AWS IoT accepts one CONNECT per
	// second per client ID.
	MinWait = time.Second
)

func (o BackoffOptions) withDefaults() BackoffOptions {
	if o.Initial == 0 {
		o.Initial = DefaultBackoffInitial
	}
	if o.Max == 0 {
		o.Max = DefaultBackoffMax
	}
	if o.ResetAfter == 0 {
		o.ResetAfter = DefaultBackoffResetAfter
	}
	if o.Rand == nil {
		o.Rand = rand.Int64N
	}
	return o
}

func (o BackoffOptions) validate() error {
	if o.Initial < 0 || o.Max < 0 || o.ResetAfter < 0 {
		return errors.New("reconnect backoff durations must not be negative")
	}
	if o.Initial > o.Max {
		return fmt.Errorf("reconnect backoff: initial %v is above the cap %v", o.Initial, o.Max)
	}
	return nil
}

// Backoff is exponential backoff with full jitter: the n-th wait (from 0) is uniform in
// [0, min(Max, Initial*2^n)]. Full jitter spreads a fleet of devices that lost the broker at
// the same moment, instead of having them all come back in lock-step. Not safe for
// concurrent use; Run owns its instance.
type Backoff struct {
	o       BackoffOptions
	attempt int
}

// NewBackoff returns a Backoff at the start of its schedule.
func NewBackoff(o BackoffOptions) *Backoff {
	return &Backoff{o: o.withDefaults()}
}

// Ceiling is the upper bound of the next wait.
func (b *Backoff) Ceiling() time.Duration {
	c := b.o.Initial
	for i := 0; i < b.attempt && c < b.o.Max; i++ {
		c *= 2
	}
	return min(c, b.o.Max)
}

// Next returns the wait before the next attempt and moves up the schedule.
func (b *Backoff) Next() time.Duration {
	c := b.Ceiling()
	b.attempt++
	if c <= 0 {
		return 0
	}
	// +1: the cap itself is a possible value. The floor keeps AWS IoT's limit of one CONNECT
	// per second per client ID even when the schedule was just reset.
	return max(time.Duration(b.o.Rand(int64(c)+1)), b.floor())
}

// floor is the least wait: MinWait, or Initial when that is shorter (tests use tiny ones).
func (b *Backoff) floor() time.Duration { return min(MinWait, b.o.Initial) }

// Reset starts the schedule over.
func (b *Backoff) Reset() { b.attempt = 0 }

// ConnectionEnded tells the schedule how long the connection that just ended had lasted and
// whether it delivered anything (a PUBACK or an inbound message): a stable one (at least
// ResetAfter) or one that delivered starts the schedule over, so a takeover or a short
// network blip is followed by a quick reconnect; one that delivered nothing keeps climbing
// so a broker that drops us right after CONNACK (policy denial) is not hammered.
func (b *Backoff) ConnectionEnded(lasted time.Duration, delivered bool) {
	if lasted >= b.o.ResetAfter || delivered {
		b.Reset()
	}
}
