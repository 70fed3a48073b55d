package handler

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Retry is a handler that may not be buildable yet: its directory or program is missing, and a
// person may be installing it right now. The subscription is made anyway, so one bad
// [[subscribe]] entry never holds the session (and with it all telemetry) back. Until a build
// succeeds every message is refused, which leaves a QoS 1 message unacknowledged for the broker
// to deliver again on a later connection; nothing is taken and then dropped.
type Retry struct {
	build func() (Handler, error)
	every time.Duration // the least time between two builds that Accept triggers
	now   func() time.Time

	mu     sync.Mutex
	h      Handler
	err    error
	tried  time.Time
	closed bool
}

// NewRetry builds at once; Err tells whether that worked. every bounds how often Accept tries
// again (0 means 5 s), so a burst of messages does not turn into a burst of builds.
func NewRetry(build func() (Handler, error), every time.Duration) *Retry {
	if every <= 0 {
		every = 5 * time.Second
	}
	r := &Retry{build: build, every: every, now: time.Now}
	r.mu.Lock()
	r.tryLocked()
	r.mu.Unlock()
	return r
}

func (r *Retry) tryLocked() {
	r.tried = r.now()
	h, err := r.build()
	if err != nil {
		h = nil // a typed nil (*File)(nil) would pass a nil check
	}
	r.h, r.err = h, err
}

// Try builds the handler if it is not built yet and returns why it still cannot be; nil once
// it is built.
func (r *Retry) Try() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.h == nil && !r.closed {
		r.tryLocked()
	}
	return r.err
}

// Err is the last build's error; nil once the handler is built.
func (r *Retry) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Accept hands the message to the built handler, building it first when the last attempt is
// old enough.
func (r *Retry) Accept(ctx context.Context, topic string, payload []byte) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	if r.h == nil && r.now().Sub(r.tried) >= r.every {
		r.tryLocked()
	}
	h, err := r.h, r.err
	r.mu.Unlock()
	if h == nil {
		return fmt.Errorf("handler not ready, message left for the broker to deliver again: %w", err)
	}
	return h.Accept(ctx, topic, payload)
}

// Close closes the built handler, if any, and stops further builds.
func (r *Retry) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	h := r.h
	r.mu.Unlock()
	if h == nil {
		return nil
	}
	return h.Close(ctx)
}
