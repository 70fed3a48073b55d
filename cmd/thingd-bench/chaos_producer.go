package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// produce is producer p: its messages in chunks, one `thingd pub --lines` per attempt, paced
// over the run. A chunk counts as acknowledged only when pub exits 0; any other outcome
// (the daemon was killed, its socket is gone) sends the whole chunk again as a new attempt.
func (ch *chaos) produce(ctx context.Context, p int) error {
	n := ch.ledger.per[p]
	chunks := (n + ch.c.chunk - 1) / ch.c.chunk
	interval := ch.c.duration / time.Duration(max(chunks, 1))
	rng := rand.New(rand.NewPCG(ch.c.seed, uint64(p)+1))
	topic := fmt.Sprintf("chaos/p%d", p)
	start := time.Now()
	for k := 0; k < chunks; k++ {
		// Spread the producers' starts so their chunks interleave.
		due := start.Add(time.Duration(k)*interval + time.Duration(p)*interval/time.Duration(ch.c.producers))
		if err := sleepUntil(ctx, due); err != nil {
			return err
		}
		from, to := k*ch.c.chunk, min((k+1)*ch.c.chunk, n)
		for attempt := 1; ; attempt++ {
			if attempt > maxAttempts {
				return fmt.Errorf("producer %d: chunk %d..%d failed %d times", p, from, to-1, maxAttempts)
			}
			var lines bytes.Buffer
			for s := from; s < to; s++ {
				lines.Write(chaosPayload(p, s, attempt))
				lines.WriteByte('\n')
			}
			ch.ledger.markSent(p, from, to, attempt)
			pctx, cancel := context.WithTimeout(ctx, time.Minute)
			_, err := ch.l.pub(pctx, ch.setup.socket, topic, &lines)
			cancel()
			if err == nil {
				ch.ledger.markAcked(p, from, to, attempt)
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			ch.ledger.markFailed()
			if err := sleepFor(ctx, time.Duration(100+rng.IntN(200))*time.Millisecond); err != nil {
				return err
			}
		}
	}
	return nil
}

func sleepUntil(ctx context.Context, t time.Time) error {
	return sleepFor(ctx, time.Until(t))
}

func sleepFor(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
