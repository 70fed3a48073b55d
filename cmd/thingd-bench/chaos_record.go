package main

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// record is the subscriber's side: which attempts of which messages arrived, and when each
// duplicate did.
type record struct {
	g *ledger

	mu        sync.Mutex
	seen      [][]uint64 // bit a: attempt a arrived
	arrivals  int
	sameDups  []time.Time // an attempt that had already arrived, again
	retryDups int         // another attempt of a message that had already arrived
	phantoms  []string    // payloads no producer ever sent
}

func newRecord(g *ledger) *record {
	r := &record{g: g}
	for _, n := range g.per {
		r.seen = append(r.seen, make([]uint64, n))
	}
	return r
}

// add is the subscriber's handler.
func (r *record) add(_ string, payload []byte, at time.Time) {
	p, s, a, ok := parseChaosPayload(payload)
	if !ok || !r.g.wasSent(p, s, a) {
		r.mu.Lock()
		r.arrivals++
		if len(r.phantoms) < 20 {
			r.phantoms = append(r.phantoms, string(payload))
		} else {
			r.phantoms = append(r.phantoms[:19], fmt.Sprintf("... and more (%q)", payload))
		}
		r.mu.Unlock()
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.arrivals++
	bits := r.seen[p][s]
	switch {
	case bits&(1<<a) != 0:
		r.sameDups = append(r.sameDups, at)
	case bits != 0:
		r.retryDups++
	}
	r.seen[p][s] = bits | 1<<a
}

// missing counts acknowledged messages that have not arrived in any attempt, and returns
// a few of them.
func (r *record) missing() (int, []string) {
	r.g.mu.Lock()
	defer r.g.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	var some []string
	for p := range r.g.acked {
		for s, a := range r.g.acked[p] {
			if a != 0 && r.seen[p][s] == 0 {
				n++
				if len(some) < 10 {
					some = append(some, fmt.Sprintf("producer %d message %d (acknowledged in attempt %d)", p, s, a))
				}
			}
		}
	}
	return n, some
}

// waitAll waits until every acknowledged message arrived; it fails when the number missing
// has not gone down for stall.
func (r *record) waitAll(ctx context.Context, stall time.Duration) error {
	best, since := -1, time.Now()
	for ctx.Err() == nil {
		n, some := r.missing()
		if n == 0 {
			return nil
		}
		if best < 0 || n < best {
			best, since = n, time.Now()
		}
		if time.Since(since) > stall {
			return fmt.Errorf("%d acknowledged messages never arrived (nothing new for %v), e.g. %v", n, stall, some)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return ctx.Err()
}
