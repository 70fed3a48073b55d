package daemon

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"thingd/daemon/limits"
	"thingd/daemon/queue"
	"thingd/daemon/session"
	"thingd/systemd"
)

// drainer publishes the queue in order, keeps at most limits.MaxInFlight QoS 1 publishes
// waiting for their PUBACK, paces to max_publish_rate, and deletes a message only after
// its PUBACK.
type drainer struct {
	q        *queue.Queue
	interval time.Duration // 0 = unpaced
	progress *systemd.Progress
	log      *zap.Logger

	mu   sync.Mutex
	sess *session.Session

	wake      chan struct{} // a connection came up
	window    chan struct{} // one token per publish in flight
	inflight  sync.WaitGroup
	lost      atomic.Bool // a delivery failed: rewind before publishing more
	paused    atomic.Bool
	published atomic.Uint64
}

func newDrainer(q *queue.Queue, rate int, p *systemd.Progress, log *zap.Logger) *drainer {
	d := &drainer{q: q, progress: p, log: log, wake: make(chan struct{}, 1), window: make(chan struct{}, limits.MaxInFlight)}
	if rate > 0 {
		d.interval = time.Second / time.Duration(rate)
	}
	return d
}

func (d *drainer) setSession(s *session.Session) {
	d.mu.Lock()
	d.sess = s
	d.mu.Unlock()
	d.signal()
}

func (d *drainer) session() *session.Session {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sess
}

// event is the session's OnEvent: it must not block.
func (d *drainer) event(e session.Event) {
	if e.Kind == session.EventConnected {
		d.signal()
	}
}

func (d *drainer) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// beatEvery is how often an idle loop proves to the watchdog that it is alive.
const beatEvery = 2 * time.Second

func (d *drainer) run(ctx context.Context) {
	defer d.inflight.Wait()
	var held *queue.Record // taken from the queue, not yet handed to the session
	var next time.Time     // pacing
	period := beatPeriod{parent: ctx}
	defer period.stop()
	for ctx.Err() == nil {
		d.progress.Beat("drain")
		s := d.session()
		if d.paused.Load() || s == nil || !s.Connected() {
			d.sleep(ctx, beatEvery)
			continue
		}
		if d.lost.Load() {
			// Publish what was lost again, in order: wait for the rest of the window to
			// settle so the rewind sees every outcome.
			if !d.settle(ctx, beatEvery) {
				continue
			}
			d.lost.Store(false)
			d.q.Rewind()
			held = nil
		}
		if held == nil {
			rec, err := d.q.Next(period.current())
			if err != nil {
				if errors.Is(err, queue.ErrClosed) {
					return
				}
				continue
			}
			held = &rec
		}
		if d.interval > 0 {
			now := time.Now()
			if next.After(now) {
				d.sleep(ctx, next.Sub(now))
			}
			next = maxTime(next, now).Add(d.interval)
		}
		if !d.acquire(ctx) {
			continue
		}
		dl, err := s.Publish(ctx, held.Topic, held.QoS, held.Payload)
		if err != nil {
			<-d.window
			if !errors.Is(err, session.ErrNotConnected) {
				d.log.Warn("publish", zap.Uint64("seq", held.Seq), zap.Error(err))
				d.sleep(ctx, time.Second)
			}
			continue // held is published first when the connection is back
		}
		seq := held.Seq
		held = nil
		d.inflight.Add(1)
		go func() {
			defer d.inflight.Done()
			<-dl.Done()
			if dl.Err() == nil {
				d.q.Ack(seq)
				d.published.Add(1)
			} else {
				d.lost.Store(true)
			}
			<-d.window
		}()
	}
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
func (d *drainer) acquire(ctx context.Context) bool {
	select {
	case d.window <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(beatEvery)
	defer t.Stop()
	select {
	case d.window <- struct{}{}:
		return true
	case <-ctx.Done():
	case <-t.C:
	}
	return false
}

// settle waits until no publish is in flight, or for at most max.
func (d *drainer) settle(ctx context.Context, max time.Duration) bool {
	deadline := time.Now().Add(max)
	for len(d.window) > 0 {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

func (d *drainer) sleep(ctx context.Context, dur time.Duration) {
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-d.wake:
	}
}

// pause stops new publishes; waitIdle then gives those in flight time for their PUBACK.
func (d *drainer) pause() { d.paused.Store(true) }

func (d *drainer) waitIdle(max time.Duration) {
	d.settle(context.Background(), max)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
