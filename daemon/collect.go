package daemon

import (
	"context"
	"time"

	"go.uber.org/zap"

	"thingd/clock"
	"thingd/daemon/config"
	"thingd/daemon/queue"
	"thingd/daemon/telemetry"
)

// Built-in samples taken before the first NTP sync wait here, to be stamped with the exact
// trusted time of their monotonic reading once the clock syncs. The wait is bounded: a
// board that never reaches NTP still reports, with the floor-based time and
// "clock":"unsynced" so the cloud side can tell.
const (
	maxHeldSamples = 60
	maxHoldFor     = 10 * time.Minute
)

type heldSample struct {
	at      clock.Reading
	metrics map[string]any
}

// collect runs one [[telemetry]] entry until ctx ends.
func (d *Daemon) collect(ctx context.Context, g *generation, t config.Telemetry) {
	log := d.log.With(zap.String("component", "telemetry"), zap.String("topic", t.Topic))
	tick := time.NewTicker(t.Interval.D())
	defer tick.Stop()
	var held []heldSample
	started := time.Now()
	trusted := g.clock.Trusted()
	sample := true
	for {
		if sample {
			r := g.clock.Mark()
			metrics, errs := telemetry.Collect("/", telemetry.SysStatFS)
			for _, err := range errs {
				log.Warn("collector", zap.Error(err))
			}
			held = append(held, heldSample{at: r, metrics: metrics})
			if len(held) > maxHeldSamples {
				held = held[1:]
			}
		}
		if g.clock.Status().Synced || time.Since(started) > maxHoldFor {
			var msgs []queue.Message
			for _, h := range held {
				ts, ok := g.clock.Stamp(h.at)
				m := h.metrics
				if !ok {
					m = withField(m, "clock", "unsynced")
				}
				payload, err := telemetry.Payload(ts, g.cfg.Thing(), m)
				if err != nil {
					log.Error("encode telemetry", zap.Error(err))
					continue
				}
				msgs = append(msgs, queue.Message{Topic: t.Topic, QoS: byte(t.QoS), Payload: payload, Time: ts})
			}
			if err := d.queue.Append(ctx, msgs...); err != nil {
				if ctx.Err() != nil {
					return
				}
				log.Error("queue telemetry", zap.Error(err))
			} else {
				held = held[:0]
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			sample = true
		case <-trusted:
			// Publish what waited for the sync right away, without an extra sample.
			trusted, sample = nil, false
		}
	}
}

func withField(m map[string]any, k string, v any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for key, val := range m {
		out[key] = val
	}
	out[k] = v
	return out
}
