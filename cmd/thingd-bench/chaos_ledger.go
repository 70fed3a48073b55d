package main

import (
	"fmt"
	"sync"
)

// maxAttempts bounds the retries of one chunk; attempts are bits of a uint64.
const maxAttempts = 63

// ledger is the producers' side of the truth: for every numbered message, the attempts that
// handed it to `thingd pub` and the one that was acknowledged (pub exited 0).
type ledger struct {
	per []int // messages of each producer

	mu     sync.Mutex
	sent   [][]uint64 // bit a: attempt a handed it to pub
	acked  [][]uint8  // the acknowledged attempt, 0 if none yet
	chunks int        // chunks acknowledged
	failed int        // pub runs that did not exit 0
}

func newLedger(producers, messages int) *ledger {
	g := &ledger{}
	for p := 0; p < producers; p++ {
		n := messages / producers
		if p < messages%producers {
			n++
		}
		g.per = append(g.per, n)
		g.sent = append(g.sent, make([]uint64, n))
		g.acked = append(g.acked, make([]uint8, n))
	}
	return g
}

func (g *ledger) markSent(p, from, to, attempt int) {
	g.mu.Lock()
	for s := from; s < to; s++ {
		g.sent[p][s] |= 1 << attempt
	}
	g.mu.Unlock()
}

func (g *ledger) markAcked(p, from, to, attempt int) {
	g.mu.Lock()
	for s := from; s < to; s++ {
		if g.acked[p][s] == 0 {
			g.acked[p][s] = uint8(attempt)
		}
	}
	g.chunks++
	g.mu.Unlock()
}

func (g *ledger) markFailed() {
	g.mu.Lock()
	g.failed++
	g.mu.Unlock()
}

// wasSent reports whether attempt a of message (p, s) was ever handed to pub.
func (g *ledger) wasSent(p, s, a int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return p >= 0 && p < len(g.per) && s >= 0 && s < g.per[p] && a > 0 && a <= maxAttempts && g.sent[p][s]&(1<<a) != 0
}

func (g *ledger) ackedChunks() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.chunks
}

func (g *ledger) failedAttempts() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.failed
}

// payload is message s of producer p in attempt a.
func chaosPayload(p, s, a int) []byte {
	b := fmt.Appendf(nil, "%d %d %d ", p, s, a)
	for len(b) < 64 {
		b = append(b, 'x')
	}
	return b
}

func parseChaosPayload(b []byte) (p, s, a int, ok bool) {
	n, err := fmt.Sscanf(string(b), "%d %d %d ", &p, &s, &a)
	return p, s, a, err == nil && n == 3
}
