package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"thingd/daemon/config"
	"thingd/daemon/session"
	"thingd/daemon/shadow"
	"thingd/daemon/status"
	"thingd/systemd"
)

// shadowHook is the generation's Device Shadow agent and the collectors its settings may
// restart. The zero value (shadow disabled) runs the collectors and nothing else.
type shadowHook struct {
	agent *shadow.Agent

	mu        sync.Mutex
	ctx       context.Context // the generation's
	telemetry []config.Telemetry
	stop      context.CancelFunc // the running collectors
	done      *sync.WaitGroup
	notAfter  time.Time // the device certificate's expiry
}

// shadowSetup runs first in a generation: it makes the agent and returns the config to run
// with, the file's plus the settings the shadow last accepted (kept on disk, so an offline
// boot starts with them).
func (d *Daemon) shadowSetup(g *generation, cfg *config.Config) *config.Config {
	g.sh = &shadowHook{}
	if !cfg.Shadow.Enabled {
		return cfg
	}
	file := cfg
	g.sh.agent = shadow.New(shadow.Options{
		Thing: cfg.Thing(), Name: cfg.Shadow.Name, Local: cfg.Shadow.Local, Interval: cfg.Shadow.Interval.D(),
		Publish: func(ctx context.Context, topic string, payload []byte) error {
			d.mu.Lock()
			s := g.session
			d.mu.Unlock()
			if s == nil {
				return session.ErrNotConnected
			}
			_, err := s.Publish(ctx, topic, 1, payload)
			return err
		},
		Status:    func() map[string]any { return shadowStatus(d.status(), g.sh.certExpiry()) },
		Base:      func() *config.Config { return file },
		Apply:     func(eff *config.Config) { d.applySettings(g, eff) },
		StateFile: cfg.ShadowStateFile(),
		Logger:    d.log,
	})
	eff := g.sh.agent.Effective()
	if eff.Log.Level != file.Log.Level {
		if err := systemd.SetLevel(d.o.Level, eff.Log.Level); err != nil {
			d.log.Warn("log level", zap.Error(err))
		}
	}
	return eff
}

// startShadow starts the collectors and the agent on the generation's context.
func (d *Daemon) startShadow(ctx context.Context, g *generation, cfg *config.Config) {
	g.sh.mu.Lock()
	g.sh.ctx = ctx
	d.startCollectorsLocked(ctx, g, cfg.Telemetry)
	g.sh.mu.Unlock()
	if a := g.sh.agent; a != nil {
		g.go_(func() { a.Run(ctx) })
	}
}

// startCollectorsLocked runs one collector per [[telemetry]] entry under a context of its
// own, so a new interval from the shadow restarts them without touching the session.
func (d *Daemon) startCollectorsLocked(ctx context.Context, g *generation, ts []config.Telemetry) {
	cctx, stop := context.WithCancel(ctx)
	wg := &sync.WaitGroup{}
	g.sh.telemetry, g.sh.stop, g.sh.done = slices.Clone(ts), stop, wg
	for _, t := range ts {
		wg.Add(1)
		g.go_(func() {
			defer wg.Done()
			d.collect(cctx, g, t)
		})
	}
}

// shadowSubscriptions adds the agent's answer topics to the session's; it runs once the
// TLS files are loaded, so it notes the certificate's expiry for the reported state.
func (d *Daemon) shadowSubscriptions(g *generation) []session.Subscription {
	if g.sh.agent == nil {
		return nil
	}
	g.sh.mu.Lock()
	g.sh.notAfter = g.tls.Certificate().NotAfter
	g.sh.mu.Unlock()
	return g.sh.agent.Subscriptions()
}

// shadowEvent passes on the session's events: a get follows every subscribed connection.
func (g *generation) shadowEvent(e session.Event) {
	if g.sh.agent == nil {
		return
	}
	switch e.Kind {
	case session.EventSubscribed:
		g.sh.agent.Connected()
	case session.EventDisconnected:
		g.sh.agent.Disconnected()
	}
}

func (h *shadowHook) certExpiry() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.notAfter
}

// applySettings puts accepted shadow settings into effect without a reconnect: the log
// level, the drain's rate, and the collectors (restarted only when an interval changed).
func (d *Daemon) applySettings(g *generation, eff *config.Config) {
	if err := systemd.SetLevel(d.o.Level, eff.Log.Level); err != nil {
		d.log.Warn("log level", zap.Error(err))
	}
	g.drain.SetRate(eff.MQTT.MaxPublishRate)
	d.log.Info("shadow settings applied", zap.String("log_level", eff.Log.Level),
		zap.Int("max_publish_rate", eff.MQTT.MaxPublishRate))
	g.sh.mu.Lock()
	defer g.sh.mu.Unlock()
	if slices.Equal(g.sh.telemetry, eff.Telemetry) || g.sh.stop == nil {
		return
	}
	// Each collector samples when it starts, so the new interval counts from now.
	g.sh.stop()
	g.sh.done.Wait()
	d.startCollectorsLocked(g.sh.ctx, g, eff.Telemetry)
}

// shadowStatus is reported.thingd's status part: values that change with the device's
// state, not with the passing of time (connected since, not uptime), so an idle device's
// shadow stays still.
func shadowStatus(st status.Status, notAfter time.Time) map[string]any {
	offset, _ := time.ParseDuration(st.Clock.Offset)
	age, _ := time.ParseDuration(st.Queue.OldestAge)
	conn := map[string]any{"connected": st.Connection.Connected, "reconnects": st.Connection.Reconnects}
	if st.Connection.Since != nil {
		conn["since"] = st.Connection.Since.UTC().Format(time.RFC3339)
	}
	out := map[string]any{
		"version": st.Version,
		"clock":   map[string]any{"synced": st.Clock.Synced, "source": st.Clock.Source, "offset_ms": offset.Milliseconds()},
		"queue":   map[string]any{"depth": st.Queue.Depth, "oldest_age_s": int64(age.Seconds()), "lost": st.Counters.Lost},
		"counters": map[string]any{"accepted": st.Counters.Accepted, "published": st.Counters.Published,
			"dropped": st.Counters.Dropped, "refused": st.Counters.Refused},
		"connection": conn,
	}
	dl := map[string]any{"count": st.DeadLetters.Count, "dropped": st.DeadLetters.Dropped}
	if l := st.DeadLetters.Last; l != nil {
		dl["last_topic"], dl["last_reason"] = l.Topic, l.Reason
	}
	out["dead_letters"] = dl
	if !notAfter.IsZero() {
		out["certificate"] = map[string]any{"not_after": notAfter.UTC().Format(time.RFC3339)}
	}
	return out
}

// ShadowGet implements local.ShadowBackend: a get of one of the thing's shadows through
// the running session, for `thingd shadow get`.
func (d *Daemon) ShadowGet(ctx context.Context, name string) ([]byte, error) {
	d.mu.Lock()
	g := d.gen
	d.mu.Unlock()
	if g == nil || g.sh == nil || g.sh.agent == nil {
		return nil, errors.New("the shadow is off: set [shadow] enabled = true in the config file and reload")
	}
	doc, err := g.sh.agent.Get(ctx, name)
	if errors.Is(err, shadow.ErrOffline) {
		return nil, fmt.Errorf("%w; a get needs the connection (`thingd status` tells why it is down)", err)
	}
	return doc, err
}

// shadowState is the agent's part of the status value; nil when the shadow is off.
func (g *generation) shadowState() *status.Shadow {
	if g.sh == nil || g.sh.agent == nil {
		return nil
	}
	st := g.sh.agent.State()
	return &st
}
