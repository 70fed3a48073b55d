// Package uplink drains the queue to the broker: in order, at most a window of QoS 1
// publishes waiting for their PUBACK, paced, and a record is acknowledged to the queue only
// after its PUBACK. It sees the queue through Source and the MQTT connection through Link,
// so its rules are tested with fakes and the daemon wires the real parts.
package uplink

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"thingd/daemon/limits"
	"thingd/daemon/queue"
)

// Source is the queue as the uplink uses it (implemented by *queue.Queue).
type Source interface {
	// Next hands out the next record after the last one handed out; it blocks until one
	// exists or ctx ends.
	Next(ctx context.Context) (queue.Record, error)
	// Ack marks seq delivered; the queue may delete it.
	Ack(seq uint64)
	// Rewind makes Next start again from the oldest unacknowledged record.
	Rewind()
}

// Delivery is the outcome of one Publish (implemented by *session.Delivery).
type Delivery interface {
	Done() <-chan struct{}
	Err() error
}

// Link is the MQTT connection as the uplink uses it.
type Link interface {
	// Up is the one "connected" signal: the returned channel is closed while a connection
	// is up. After the connection ends, a new call returns a channel that is still open.
	Up() <-chan struct{}
	// Publish sends one message; ErrNotConnected (wrapped or not) means nothing was sent.
	Publish(ctx context.Context, topic string, qos byte, payload []byte) (Delivery, error)
	// Reconnect drops the current connection so that paho resends every unacknowledged
	// publish on the next one; reason is logged by the link.
	Reconnect(reason string)
}

// ErrNotConnected is what a Link returns when no connection is up.
var ErrNotConnected = errors.New("not connected")

// beatEvery is how often an idle loop proves to the watchdog that it is alive.
const beatEvery = 2 * time.Second

// MinAckTimeout is the floor of the PUBACK deadline (see AckTimeout).
const MinAckTimeout = 30 * time.Second

// AckTimeout is how long a QoS 1 publish may wait for its PUBACK before the uplink forces a
// reconnect: max(2 × keepalive, 30 s). Two keepalive periods let paho's own PINGREQ
// detect a dead connection first (it closes after 1.5 × keepalive without traffic), so
// this deadline only fires on a connection that is alive but lost the PUBACK; AWS IoT never
// resends a PUBACK and paho resends an unacknowledged publish only on a new connection.
func AckTimeout(keepalive time.Duration) time.Duration {
	return max(2*keepalive, MinAckTimeout)
}

// Options configure an Uplink.
type Options struct {
	Source Source
	Link   Link
	// Rate is the most publishes per second (max_publish_rate); 0 means unpaced.
	Rate int
	// Window is the most publishes waiting for their outcome; 0 means limits.MaxInFlight.
	Window int
	// AckTimeout is the PUBACK deadline; 0 disables it.
	AckTimeout time.Duration
	// Beat is called at least every few seconds while Run runs (the watchdog).
	Beat   func()
	Logger *zap.Logger
}

// Uplink is the drain loop. Run it once.
type Uplink struct {
	o        Options
	interval time.Duration
	log      *zap.Logger

	window    chan struct{} // one token per publish in flight
	inflight  sync.WaitGroup
	lost      atomic.Bool // a delivery failed: rewind before publishing more
	paused    atomic.Bool
	published atomic.Uint64
	ackLate   atomic.Uint64

	warnMu   sync.Mutex
	lastWarn time.Time
}

// New prepares an Uplink.
func New(o Options) *Uplink {
	if o.Window <= 0 || o.Window > limits.MaxInFlight {
		o.Window = limits.MaxInFlight
	}
	if o.Beat == nil {
		o.Beat = func() {}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	u := &Uplink{o: o, log: o.Logger, window: make(chan struct{}, o.Window)}
	if o.Rate > 0 {
		u.interval = time.Second / time.Duration(o.Rate)
	}
	return u
}

// Published counts PUBACKed (QoS 1) or written (QoS 0) messages.
func (u *Uplink) Published() uint64 { return u.published.Load() }

// LateAcks counts publishes whose PUBACK missed AckTimeout.
func (u *Uplink) LateAcks() uint64 { return u.ackLate.Load() }

// InFlight is how many publishes wait for their outcome.
func (u *Uplink) InFlight() int { return len(u.window) }

// Run publishes until ctx ends or the source is closed, then waits for the deliveries in
// flight to settle (the link's session fails them when it closes).
func (u *Uplink) Run(ctx context.Context) {
	defer u.inflight.Wait()
	var held *queue.Record // taken from the source, not yet handed to the link
	var next time.Time     // pacing
	var lastUp <-chan struct{}
	period := beatPeriod{parent: ctx}
	defer period.stop()
	for ctx.Err() == nil {
		u.o.Beat()
		if u.paused.Load() {
			u.sleep(ctx, beatEvery, nil)
			continue
		}
		up := u.o.Link.Up()
		select {
		case <-up:
		default:
			u.sleep(ctx, beatEvery, up)
			continue
		}
		if up != lastUp {
			// A new connection, on which the session sends again at once whatever is still in
			// the window: that burst counts against the rate (AWS IoT drops what exceeds 100
			// publishes/s), so new publishes wait until it is paid for.
			lastUp = up
			if u.interval > 0 {
				next = maxTime(next, time.Now().Add(time.Duration(len(u.window))*u.interval))
			}
		}
		if u.lost.Load() {
			// Publish what was lost again, in order: wait for the rest of the window to
			// settle so the rewind sees every outcome.
			if !u.settle(ctx, beatEvery) {
				continue
			}
			u.lost.Store(false)
			u.o.Source.Rewind()
			held = nil
		}
		if held == nil {
			rec, err := u.o.Source.Next(period.current())
			if err != nil {
				if errors.Is(err, queue.ErrClosed) {
					return
				}
				continue
			}
			held = &rec
		}
		if u.interval > 0 {
			now := time.Now()
			if next.After(now) {
				u.sleep(ctx, next.Sub(now), nil)
			}
			next = maxTime(next, now).Add(u.interval)
		}
		if !u.acquire(ctx) {
			continue
		}
		dl, err := u.o.Link.Publish(ctx, held.Topic, held.QoS, held.Payload)
		if err != nil {
			<-u.window
			if errors.Is(err, ErrNotConnected) {
				// The link may not have noticed yet that the connection is gone.
				u.sleep(ctx, 50*time.Millisecond, nil)
			} else {
				u.log.Warn("publish", zap.Uint64("seq", held.Seq), zap.Error(err))
				u.sleep(ctx, time.Second, nil)
			}
			continue // held is published first when the connection is back
		}
		rec := *held
		held = nil
		u.inflight.Add(1)
		go u.watch(rec, dl)
	}
}

// watch waits for one delivery's outcome, returns its window token and acknowledges it
// to the source only on success. A PUBACK missing past AckTimeout forces a reconnect; the
// delivery stays in the window until paho's resend on the next connection settles it.
func (u *Uplink) watch(rec queue.Record, dl Delivery) {
	defer u.inflight.Done()
	defer func() { <-u.window }()
	var deadline <-chan time.Time
	if u.o.AckTimeout > 0 && rec.QoS > 0 {
		t := time.NewTicker(u.o.AckTimeout)
		defer t.Stop()
		deadline = t.C
	}
	for {
		select {
		case <-dl.Done():
			if dl.Err() == nil {
				u.o.Source.Ack(rec.Seq)
				u.published.Add(1)
			} else {
				u.lost.Store(true)
			}
			return
		case <-deadline:
			u.ackLate.Add(1)
			u.warnLate(rec)
			u.o.Link.Reconnect(fmt.Sprintf("no PUBACK for queued message %d (%s) within %v", rec.Seq, rec.Topic, u.o.AckTimeout))
		}
	}
}

// warnLate logs at most one line a minute: with a window of 100, one lost connection
// would otherwise log 100 lines.
func (u *Uplink) warnLate(rec queue.Record) {
	u.warnMu.Lock()
	defer u.warnMu.Unlock()
	now := time.Now()
	if !u.lastWarn.IsZero() && now.Sub(u.lastWarn) < time.Minute {
		return
	}
	u.lastWarn = now
	u.log.Warn("no PUBACK in time: reconnecting so the broker gets the message again",
		zap.Uint64("seq", rec.Seq), zap.String("topic", rec.Topic),
		zap.Duration("ack_timeout", u.o.AckTimeout), zap.Uint64("late_acks_total", u.ackLate.Load()))
}

// beatPeriod bounds Next by the end of the current beat period, so an idle loop still
// beats; one timer per period, not one per message.
type beatPeriod struct {
	parent context.Context
	ctx    context.Context
	cancel context.CancelFunc
}

func (p *beatPeriod) current() context.Context {
	if p.ctx == nil || p.ctx.Err() != nil {
		p.stop()
		p.ctx, p.cancel = context.WithTimeout(p.parent, beatEvery)
	}
	return p.ctx
}

func (p *beatPeriod) stop() {
	if p.cancel != nil {
		p.cancel()
	}
}

// acquire takes a slot in the in-flight window. The common case, a free slot, costs no
// timer; a full window waits at most beatEvery so the loop keeps beating.
func (u *Uplink) acquire(ctx context.Context) bool {
	select {
	case u.window <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(beatEvery)
	defer t.Stop()
	select {
	case u.window <- struct{}{}:
		return true
	case <-ctx.Done():
	case <-t.C:
	}
	return false
}

// settle waits until no publish is in flight, or for at most max.
func (u *Uplink) settle(ctx context.Context, max time.Duration) bool {
	deadline := time.Now().Add(max)
	for len(u.window) > 0 {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// sleep waits for dur, ctx, or (if not nil) wake to be closed.
func (u *Uplink) sleep(ctx context.Context, dur time.Duration, wake <-chan struct{}) {
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-wake:
	}
}

// Pause stops new publishes; WaitIdle then gives those in flight time for their PUBACK.
func (u *Uplink) Pause() { u.paused.Store(true) }

// WaitIdle waits until nothing is in flight, or for at most max.
func (u *Uplink) WaitIdle(max time.Duration) {
	u.settle(context.Background(), max)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
