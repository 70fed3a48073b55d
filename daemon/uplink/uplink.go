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
	// Reconnect drops the current connection; reason is logged by the link. It reports
	// whether a connection was up to drop. Every delivery still open on the connection
	// fails when it ends, before the next one is up, so a publish's PUBACK can only be
	// overtaken by publishes sent on the same connection.
	Reconnect(reason string) bool
}

// ErrNotConnected is what a Link returns when no connection is up.
var ErrNotConnected = errors.New("not connected")

// beatEvery is how often an idle loop proves to the watchdog that it is alive.
const beatEvery = 2 * time.Second

// resendSlack is added to the pause after a reconnect with publishes in flight, see Run.
const resendSlack = time.Second

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

// DefaultOvertakeGrace is how long a publish may stay without its PUBACK while a publish
// sent after it on the same connection has its own, before the uplink takes the PUBACK for
// lost. MQTT 3.1.1 (4.6) has a broker acknowledge QoS 1 publishes in the order it got them,
// so a later PUBACK means the earlier one is not coming; the grace leaves room for a broker
// that answers a little out of order. Without it every lost PUBACK (or a publish AWS IoT
// discarded for rate) would hold its window slot for the whole AckTimeout.
const DefaultOvertakeGrace = 5 * time.Second

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
	// OvertakeGrace is how long a PUBACK may be missing once a later publish has its own
	// (see DefaultOvertakeGrace, the default); it only applies while AckTimeout is set.
	OvertakeGrace time.Duration
	// Beat is called at least every few seconds while Run runs (the watchdog).
	Beat   func()
	Logger *zap.Logger
	// DeadLetters takes a message the broker refused MaxStrikes times (see probe.go); nil
	// keeps sending it.
	DeadLetters DeadLetters
	// Now is the clock of the strike window; nil means time.Now.
	Now func() time.Time
}

// Uplink is the drain loop. Run it once.
type Uplink struct {
	o        Options
	interval atomic.Int64 // pacing between publishes, ns; 0 = unpaced
	log      *zap.Logger

	window    chan struct{} // one token per publish in flight
	inflight  sync.WaitGroup
	lost      atomic.Bool // a delivery failed: rewind before publishing more
	forced    atomic.Bool // the uplink dropped the connection itself (a late PUBACK)
	paused    atomic.Bool
	published atomic.Uint64
	ackLate   atomic.Uint64
	// sends numbers the publishes in the order they went out; ackedSend is the highest
	// number whose PUBACK came. A publish still open below it was overtaken (see watch).
	sends     atomic.Uint64
	ackedSend atomic.Uint64
	overtaken atomic.Uint64

	warnMu   sync.Mutex
	lastWarn time.Time

	strikes      strikes // Run's own
	deadLettered atomic.Uint64
	lone         atomic.Uint64 // publishes sent alone after a loss
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
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.OvertakeGrace <= 0 {
		o.OvertakeGrace = DefaultOvertakeGrace
	}
	u := &Uplink{o: o, log: o.Logger, window: make(chan struct{}, o.Window)}
	u.SetRate(o.Rate)
	return u
}

// SetRate changes the most publishes per second while Run runs (a setting from the
// shadow); 0 means unpaced.
func (u *Uplink) SetRate(rate int) {
	var iv time.Duration
	if rate > 0 {
		// 1 % under the rate: publishes sent evenly can still arrive bunched, and a broker
		// that counts per second (AWS IoT) must never see one more than the limit.
		iv = time.Second / time.Duration(rate) * 101 / 100
	}
	u.interval.Store(int64(iv))
}

// Published counts PUBACKed (QoS 1) or written (QoS 0) messages.
func (u *Uplink) Published() uint64 { return u.published.Load() }

// LateAcks counts the reconnects the uplink asked for because a PUBACK was taken for lost
// (overtaken, past AckTimeout, or still missing a deadline after the last ask).
func (u *Uplink) LateAcks() uint64 { return u.ackLate.Load() }

// Overtaken counts those of LateAcks that the overtake rule found: with a broker that
// answers out of order by more than OvertakeGrace, these would be false alarms.
func (u *Uplink) Overtaken() uint64 { return u.overtaken.Load() }

// InFlight is how many publishes wait for their outcome.
func (u *Uplink) InFlight() int { return len(u.window) }

// Run publishes until ctx ends or the source is closed, then waits for the deliveries in
// flight to settle (the link's session fails them when it closes).
func (u *Uplink) Run(ctx context.Context) {
	defer u.inflight.Wait()
	var held *queue.Record // taken from the source, not yet handed to the link
	var next time.Time     // pacing
	// After a lost delivery every record up to probeTo (the newest handed to the link
	// before the loss) is sent alone, oldest first, so the one that kills the connection
	// is found whatever else was in flight (probe.go).
	probe := false
	var sentTo, probeTo uint64
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
			if n, iv := len(u.window), time.Duration(u.interval.Load()); iv > 0 && n > 0 {
				// The session may start its resend a little after it reported the connection
				// (under load, hundreds of milliseconds): resendSlack keeps the two apart.
				next = maxTime(next, time.Now().Add(time.Duration(n)*iv+resendSlack))
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
			// A connection we dropped ourselves for a late PUBACK was alive: nothing on it
			// was refused, so there is nothing to find.
			probe, probeTo = !u.forced.Swap(false), sentTo
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
		if iv := time.Duration(u.interval.Load()); iv > 0 {
			now := time.Now()
			if next.After(now) {
				u.sleep(ctx, next.Sub(now), nil)
			}
			next = maxTime(next, now).Add(iv)
		}
		if !u.acquire(ctx) {
			continue
		}
		probe = probe && held.Seq <= probeTo
		sentAt := u.o.Now()
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
		sentTo = max(sentTo, rec.Seq)
		u.inflight.Add(1)
		if !probe {
			go u.watch(rec, dl, u.sends.Add(1), nil)
			continue
		}
		u.probe(ctx, rec, dl, sentAt)
	}
}

// watch waits for one delivery's outcome, returns its window token and acknowledges it
// to the source only on success. send is the publish's number in sending order. A PUBACK
// taken for lost forces a reconnect, asked again each AckTimeout while the connection
// lingers; the delivery stays in the window until the connection's end fails it (and Run
// sends it again) or a late PUBACK settles it. Lost means missing for OvertakeGrace while a
// later QoS 1 publish has its PUBACK, or missing for AckTimeout.
func (u *Uplink) watch(rec queue.Record, dl Delivery, send uint64, out chan<- error) {
	defer u.inflight.Done()
	defer func() { <-u.window }()
	sent := time.Now() // before the ticker, so its first tick is a full period after it
	var tick <-chan time.Time
	if u.o.AckTimeout > 0 && rec.QoS > 0 {
		t := time.NewTicker(min(u.o.OvertakeGrace, u.o.AckTimeout))
		defer t.Stop()
		tick = t.C
	}
	var forcedAt time.Time // when this watch last had a reconnect taken
	settled := func() {
		if dl.Err() == nil {
			u.o.Source.Ack(rec.Seq)
			u.published.Add(1)
			if rec.QoS > 0 {
				// A QoS 0 publish "succeeds" once written: it says nothing of PUBACKs.
				u.ackedSendAtLeast(send)
			}
		} else {
			u.lost.Store(true)
		}
		if out != nil {
			out <- dl.Err()
		}
	}
	for {
		select {
		case <-dl.Done():
			settled()
			return
		case now := <-tick:
			select {
			case <-dl.Done():
				// Both were ready and select chose the tick: the outcome wins, or a
				// delivery already settled could ask to drop a healthy connection.
				settled()
				return
			default:
			}
			var why string
			overtaken := false
			switch {
			case !forcedAt.IsZero():
				// The reconnect asked for has not ended the connection yet: ask again
				// only after another full deadline.
				if now.Sub(forcedAt) >= u.o.AckTimeout {
					why = fmt.Sprintf("still no PUBACK %v after the reconnect asked for", u.o.AckTimeout)
				}
			case now.Sub(sent) >= u.o.AckTimeout:
				why = fmt.Sprintf("no PUBACK within %v", u.o.AckTimeout)
			case now.Sub(sent) >= u.o.OvertakeGrace && u.ackedSend.Load() > send:
				why = fmt.Sprintf("no PUBACK within %v while later messages had theirs", u.o.OvertakeGrace)
				overtaken = true
			}
			if why == "" {
				continue
			}
			// Only a reconnect that was taken marks the loss as the uplink's doing: on a
			// connection already ending for another reason (a refused publish) the probe
			// after it must still run.
			if !u.o.Link.Reconnect(fmt.Sprintf("%s for queued message %d (%s)", why, rec.Seq, rec.Topic)) {
				continue
			}
			forcedAt = now
			u.forced.Store(true)
			u.ackLate.Add(1)
			if overtaken {
				u.overtaken.Add(1)
			}
			u.warnLate(rec, why)
		}
	}
}

// ackedSendAtLeast raises ackedSend to send.
func (u *Uplink) ackedSendAtLeast(send uint64) {
	for {
		cur := u.ackedSend.Load()
		if cur >= send || u.ackedSend.CompareAndSwap(cur, send) {
			return
		}
	}
}

// warnLate logs at most one line a minute: with a window of 100, one lost connection
// would otherwise log 100 lines.
func (u *Uplink) warnLate(rec queue.Record, why string) {
	u.warnMu.Lock()
	defer u.warnMu.Unlock()
	now := time.Now()
	if !u.lastWarn.IsZero() && now.Sub(u.lastWarn) < time.Minute {
		return
	}
	u.lastWarn = now
	u.log.Warn("no PUBACK in time: reconnecting so the broker gets the message again",
		zap.Uint64("seq", rec.Seq), zap.String("topic", rec.Topic), zap.String("why", why),
		zap.Uint64("late_acks_total", u.ackLate.Load()))
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
