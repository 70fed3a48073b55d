package daemon

import (
	"context"
	"fmt"
	"slices"

	"go.uber.org/zap"

	"thingd/daemon/deadletter"
	"thingd/daemon/queue"
	"thingd/daemon/status"
	"thingd/daemon/uplink"
)

// openDeadLetters opens the store of messages the broker refused, beside the queue. A store
// that cannot be opened is logged, and the daemon runs without one (a refused message is
// then resent, as before there were dead letters) rather than not at all.
func (d *Daemon) openDeadLetters(queueDir string) {
	s, err := deadletter.Open(deadletter.DefaultPath(queueDir), deadletter.Options{Logger: d.log})
	if err != nil {
		d.deadErr = err
		d.log.Error("no dead-letter store: a message the broker refuses will block the queue", zap.Error(err))
		return
	}
	d.dead = s
}

// deadLetterSink is the uplink's way into the store; nil when there is none.
func (d *Daemon) deadLetterSink() uplink.DeadLetters {
	if d.dead == nil {
		return nil
	}
	return deadLetterSink{d.dead}
}

type deadLetterSink struct{ s *deadletter.Store }

func (k deadLetterSink) Add(rec queue.Record, strikes int, reason string) error {
	return k.s.Add(deadletter.Letter{Seq: rec.Seq, Topic: rec.Topic, QoS: rec.QoS, Payload: rec.Payload,
		Enqueued: rec.Time, Strikes: strikes, Reason: reason})
}

func (d *Daemon) deadLetterStatus() status.DeadLetters {
	if d.dead == nil {
		return status.DeadLetters{}
	}
	st := d.dead.Stats()
	out := status.DeadLetters{Count: st.Count, Dropped: st.Dropped}
	if l := st.Last; l != nil {
		out.Last = &status.DeadLetter{Seq: l.Seq, Topic: l.Topic, Reason: l.Reason, At: l.At.UTC()}
	}
	return out
}

// DeadLetters implements local.DeadLetterBackend. Retry queues the letters again (durably)
// before it takes them out of the store: a crash in between leaves a duplicate, never a loss.
func (d *Daemon) DeadLetters(ctx context.Context, op string, seqs []uint64) (any, error) {
	if d.dead == nil {
		return nil, fmt.Errorf("this thingd runs without a dead-letter store: %w", d.deadErr)
	}
	match := func(l deadletter.Letter) bool { return seqs == nil || slices.Contains(seqs, l.Seq) }
	var picked []deadletter.Letter
	for _, l := range d.dead.List() {
		if match(l) {
			picked = append(picked, l)
		}
	}
	switch op {
	case "list":
		return nonNil(picked), nil
	case "retry", "discard":
	default:
		return nil, fmt.Errorf("unknown dead-letter operation %q", op)
	}
	if seqs != nil && len(picked) == 0 {
		return nil, fmt.Errorf("no dead letter with seq %d (see `thingd deadletter list`)", seqs[0])
	}
	if op == "retry" && len(picked) > 0 {
		msgs := make([]queue.Message, len(picked))
		for i, l := range picked {
			msgs[i] = queue.Message{Topic: l.Topic, QoS: l.QoS, Payload: l.Payload}
		}
		if err := d.queue.Append(ctx, msgs...); err != nil {
			return nil, fmt.Errorf("queue the dead letters again: %w; they stay in the dead-letter store", err)
		}
	}
	gone, err := d.dead.Remove(func(l deadletter.Letter) bool {
		return slices.ContainsFunc(picked, func(p deadletter.Letter) bool { return p.Seq == l.Seq && p.At.Equal(l.At) })
	})
	if err != nil {
		if op == "retry" {
			return nil, fmt.Errorf("queued again, but could not take them out of the dead-letter store (they may be sent twice): %w", err)
		}
		return nil, err
	}
	return nonNil(gone), nil
}

func nonNil(ls []deadletter.Letter) []deadletter.Letter {
	if ls == nil {
		return []deadletter.Letter{}
	}
	return ls
}
