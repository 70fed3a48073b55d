package uplink

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"thingd/daemon/queue"
)

// A message the broker refuses must not stop the line. AWS IoT answers a publish its
// policy denies by closing the connection, with no PUBACK; resent on every new connection,
// such a message would kill every one of them and nothing behind it would ever be
// delivered. So after a lost delivery the uplink sends the records that were in flight
// one at a time, oldest first, each alone (a window of one) until its outcome, and only
// then reopens the window; the record that kills the connection is then always alone. A
// connection that dies within StrikeWindow of that lone publish, without its PUBACK, is a
// strike against the record; MaxStrikes strikes in a row move it to the dead letters and
// the line flows on. A PUBACK ends the probe and clears the strikes. A connection lost
// before the record was sent, or long after (a lost PUBACK, a network outage), is no strike,
// and a lone publish without outcome after StrikeWindow reopens the window (the connection
// is alive; the AckTimeout handles its PUBACK). A connection the uplink dropped itself for
// a late PUBACK starts no lone resends.
const (
	StrikeWindow = 5 * time.Second
	MaxStrikes   = 3
)

// DeadLetters is where a refused record goes (implemented over *deadletter.Store).
type DeadLetters interface {
	// Add keeps rec durably; the uplink acknowledges rec to the source only after Add
	// returned nil, so a record is never in neither place.
	Add(rec queue.Record, strikes int, reason string) error
}

// strikes counts the strikes of one record: probes always send the oldest unacknowledged
// record, so only it can have any.
type strikes struct {
	seq uint64
	n   int
}

func (s *strikes) add(seq uint64) int {
	if s.seq != seq {
		*s = strikes{seq: seq}
	}
	s.n++
	return s.n
}

// LoneResends counts records sent alone after a lost connection, to find a refused one.
func (u *Uplink) LoneResends() uint64 { return u.lone.Load() }

// DeadLettered counts records moved to the dead letters since start.
func (u *Uplink) DeadLettered() uint64 { return u.deadLettered.Load() }

// probe watches the lone publish of rec, sent at sent, until its outcome. After a failure
// Run rewinds, and the oldest unacknowledged record is probed on the next connection: rec
// again, or the one after it once rec is in the dead letters.
func (u *Uplink) probe(ctx context.Context, rec queue.Record, dl Delivery, sent time.Time) {
	u.lone.Add(1)
	out := make(chan error, 1)
	go u.watch(rec, dl, u.sends.Add(1), out)
	// A refusal closes the connection at once; a lone publish still open after the strike
	// window went out on a live connection (its PUBACK is late or lost: the AckTimeout
	// deals with that), so the window opens again rather than wait for it.
	alive := time.NewTimer(StrikeWindow)
	defer alive.Stop()
	var err error
	for waiting := true; waiting; {
		t := time.NewTimer(beatEvery)
		select {
		case err = <-out:
			waiting = false
		case <-ctx.Done():
			t.Stop()
			return
		case <-alive.C:
			t.Stop()
			return
		case <-t.C:
			u.o.Beat()
		}
		t.Stop()
	}
	if err == nil {
		u.strikes = strikes{}
		return
	}
	if ctx.Err() != nil || u.o.Now().Sub(sent) > StrikeWindow {
		return
	}
	n := u.strikes.add(rec.Seq)
	u.log.Warn("the connection died right after this message was sent alone, without its PUBACK",
		zap.Uint64("seq", rec.Seq), zap.String("topic", rec.Topic),
		zap.Int("strike", n), zap.Int("max_strikes", MaxStrikes), zap.Error(err))
	if n >= MaxStrikes && u.o.DeadLetters != nil {
		u.deadLetter(rec, n)
	}
}

// deadLetter moves rec out of the queue into the dead letters and says so once, loudly.
func (u *Uplink) deadLetter(rec queue.Record, n int) {
	reason := fmt.Sprintf("the broker closed the connection within %v of this message, sent alone, %d times in a row without a PUBACK; "+
		"AWS IoT does this when the IoT policy denies iot:Publish on the topic", StrikeWindow, n)
	if err := u.o.DeadLetters.Add(rec, n, reason); err != nil {
		// It stays queued (and keeps costing connections) rather than being lost.
		u.log.Error("cannot move a refused message to the dead letters; it stays queued and blocks the messages behind it",
			zap.Uint64("seq", rec.Seq), zap.String("topic", rec.Topic), zap.Error(err))
		return
	}
	u.o.Source.Ack(rec.Seq)
	u.strikes = strikes{}
	u.deadLettered.Add(1)
	u.log.Error("the broker refuses this message: moved it to the dead letters so the messages behind it flow on",
		zap.Uint64("seq", rec.Seq), zap.String("topic", rec.Topic), zap.String("reason", reason),
		zap.String("fix", fmt.Sprintf("allow the topic in the device's IoT policy: add arn:aws:iot:<region>:<account>:topic/%s "+
			"to the iot:Publish resources, then `thingd deadletter retry %d` (or `thingd deadletter discard %d`)", rec.Topic, rec.Seq, rec.Seq)))
}
