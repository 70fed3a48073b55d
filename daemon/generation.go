package daemon

import (
	"context"
	stdtls "crypto/tls"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"thingd/clock"
	"thingd/daemon/config"
	"thingd/daemon/handler"
	"thingd/daemon/jobs"
	"thingd/daemon/provision"
	"thingd/daemon/session"
	"thingd/daemon/uplink"
	thingtls "thingd/tls"
)

// trustWait bounds how long the first connection waits for NTP before it tries with
// the floor-based time (the clock keeps syncing and the next attempt uses it).
const trustWait = 15 * time.Second

// generation is everything that a reload replaces: clock, TLS files, MQTT session,
// drain loop, collectors and handlers. The queue and the socket outlive it.
type generation struct {
	cfg      *config.Config
	clock    *clock.Clock
	session  *session.Session
	tls      *thingtls.Client
	handlers []handler.Handler
	retries  []subscribeRetry // the handlers among them that could not be built yet
	jobs     *jobs.Agent      // nil when [jobs] is off
	drain    *uplink.Uplink
	link     *sessionLink
	sh       *shadowHook
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	mu      sync.Mutex
	lastErr string // why the session cannot even start (bad files), for STATUS=
	// gaveUp is set when connect returned without a session: the watchdog must notice, because
	// nothing would ever connect again.
	gaveUp bool
}

// subscribeRetry is a [[subscribe]] entry whose handler is retried until it can be built.
type subscribeRetry struct {
	name string // "subscribe[0] cmd/pi/#" as the journal and the status name it
	r    *handler.Retry
}

func (d *Daemon) startGeneration(ctx context.Context, cfg *config.Config) {
	gctx, cancel := context.WithCancel(ctx)
	log := d.log
	g := &generation{cfg: cfg, cancel: cancel}
	cfg = d.shadowSetup(g, cfg) // the file's config plus the settings the shadow last accepted
	g.cfg = cfg
	var err error
	g.clock, err = clock.New(clock.Options{
		Servers: cfg.Clock.Servers, Step: cfg.Clock.Step, StateFile: cfg.Clock.StateFile,
		BuildTime: d.o.BuildTime, Logger: log,
	})
	if err != nil {
		// The config was validated, so this is unexpected; run without NTP rather than not at all.
		log.Error("clock", zap.Error(err))
		g.clock, _ = clock.New(clock.Options{Step: clock.StepNever, BuildTime: d.o.BuildTime, Logger: log})
	}
	d.mu.Lock()
	d.gen = g
	d.mu.Unlock()

	g.go_(func() {
		if err := g.clock.Run(gctx); err != nil {
			log.Error("clock stopped", zap.Error(err))
		}
	})
	// What the previous generation had in flight was handed out but never acknowledged:
	// send it again from the oldest unacknowledged record.
	d.queue.Rewind()
	g.link = newSessionLink()
	g.drain = uplink.New(uplink.Options{
		Source: d.queue, Link: g.link, Rate: cfg.MQTT.MaxPublishRate,
		AckTimeout:  uplink.AckTimeout(cfg.MQTT.Keepalive.D()),
		Beat:        func() { d.progress.Beat("drain") },
		DeadLetters: d.deadLetterSink(),
		Logger:      log.With(zap.String("component", "drain")),
	})
	g.go_(func() { g.drain.Run(gctx) })
	d.startShadow(gctx, g, cfg) // the collectors, and the shadow agent when enabled
	g.go_(func() { d.connect(gctx, g) })
}

// preflight builds, and throws away, the parts of a generation for cfg that can fail: the
// clock and the TLS files. A reload calls it before it stops the running generation.
func (d *Daemon) preflight(cfg *config.Config) error {
	if _, err := clock.New(clock.Options{Servers: cfg.Clock.Servers, Step: cfg.Clock.Step,
		StateFile: cfg.Clock.StateFile, BuildTime: d.o.BuildTime, Logger: zap.NewNop()}); err != nil {
		return fmt.Errorf("clock: %w", err)
	}
	now := time.Now
	d.mu.Lock()
	if d.gen != nil {
		now = d.gen.clock.Now // the running generation's trusted time
	}
	d.mu.Unlock()
	if _, err := thingtls.Load(thingtls.Options{
		Host: cfg.MQTT.Endpoint, Port: cfg.MQTT.Port, CAFile: cfg.MQTT.CAFile,
		CertFile: cfg.MQTT.CertFile, KeyFile: cfg.MQTT.KeyFile, Now: now, Logger: zap.NewNop(),
	}); err != nil {
		return fmt.Errorf("the new configuration's TLS files: %w", err)
	}
	return nil
}

func (g *generation) go_(f func()) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		f()
	}()
}

// connect loads the TLS files and runs the session. Files that cannot be loaded are
// retried every minute: a person may be copying them into place right now.
func (d *Daemon) connect(ctx context.Context, g *generation) {
	log := d.log.With(zap.String("component", "mqtt")) // for this function's own lines
	cfg := g.cfg
	if !g.clock.WaitTrusted(ctx, trustWait) && ctx.Err() == nil {
		log.Warn("no trusted time yet: connecting with the floor-based clock while NTP keeps trying",
			zap.String("clock", g.clock.Status().String()))
	}
	for ctx.Err() == nil {
		c, err := thingtls.Load(thingtls.Options{
			Host: cfg.MQTT.Endpoint, Port: cfg.MQTT.Port, CAFile: cfg.MQTT.CAFile,
			CertFile: cfg.MQTT.CertFile, KeyFile: cfg.MQTT.KeyFile, Now: g.clock.Now, Logger: d.log,
		})
		if err == nil {
			g.tls = c
			break
		}
		g.setErr(err.Error())
		log.Error("cannot load the device's TLS files; retrying in a minute", zap.Error(err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Minute):
		}
	}
	if ctx.Err() != nil {
		return
	}
	g.setErr("")
	subs := d.subscriptions(g)
	rot := provision.NewRotator(cfg, d.log, g.clock.Now) // nil unless provisioned by claim
	subs = append(subs, rot.Subscriptions()...)
	if len(g.handlerErrors()) > 0 {
		g.go_(func() { d.retryHandlers(ctx, g) })
	}
	subs, onEvent := d.withJobs(ctx, g, subs)
	s, err := session.New(session.Options{
		Endpoint: cfg.MQTT.Endpoint, Port: cfg.MQTT.Port, ClientID: cfg.MQTT.ClientID,
		Keepalive: cfg.MQTT.Keepalive.D(), CleanSession: cfg.MQTT.CleanSession, Proxy: cfg.MQTT.Proxy,
		TLSConfig:  func() (*stdtls.Config, error) { return g.tls.Config, nil },
		ExplainErr: func(err error) error { return g.tls.Explain(err, g.clock.Status().Synced) },
		Logger:     d.log,
		OnEvent:    func(e session.Event) { onEvent(e); g.shadowEvent(e); rot.Event(e) },
	}, subs)
	if err != nil {
		g.setErr(err.Error())
		g.mu.Lock()
		g.gaveUp = true
		g.mu.Unlock()
		log.Error("the MQTT session cannot be made; the watchdog will have systemd restart thingd", zap.Error(err))
		return
	}
	d.mu.Lock()
	g.session = s
	d.mu.Unlock()
	g.link.attach(s)
	g.go_(func() { rot.Run(ctx, s) })
	if err := s.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("session stopped", zap.Error(err))
	}
}

func (g *generation) setErr(s string) {
	g.mu.Lock()
	g.lastErr = s
	g.mu.Unlock()
}

// subscriptions makes one subscription per [[subscribe]] entry. A handler that cannot be built
// yet (its directory or program is missing) is retried rather than holding the session back:
// one bad entry must not silence the device's telemetry.
func (d *Daemon) subscriptions(g *generation) []session.Subscription {
	var subs []session.Subscription
	var retries []subscribeRetry
	for i, s := range g.cfg.Subscribe {
		build := func() (handler.Handler, error) {
			if len(s.Exec) > 0 {
				return handler.NewExec(s.Exec, handler.ExecOptions{Timeout: s.Timeout.D(), MaxConcurrent: s.Concurrency, Logger: d.log})
			}
			return handler.NewFile(s.File, d.log)
		}
		name := fmt.Sprintf("subscribe[%d] %s", i, s.Topic)
		r := handler.NewRetry(build, 0)
		if err := r.Err(); err != nil {
			retries = append(retries, subscribeRetry{name: name, r: r})
			d.log.Error("a subscription's handler cannot be built; its messages are left for the broker "+
				"to deliver again, telemetry goes on, and the handler is retried every minute",
				zap.String("subscription", name), zap.Error(err))
		}
		g.handlers = append(g.handlers, r)
		subs = append(subs, session.Subscription{Filter: s.Topic, QoS: byte(s.QoS), Handle: r.Accept})
	}
	g.mu.Lock()
	g.retries = retries
	g.mu.Unlock()
	return append(subs, d.shadowSubscriptions(g)...)
}

// handlerRetryEvery is how often a handler that cannot be built is tried again, as for TLS files.
const handlerRetryEvery = time.Minute

// retryHandlers tries every pending handler each minute until all are built, saying in the
// journal when one becomes ready or still is not.
func (d *Daemon) retryHandlers(ctx context.Context, g *generation) {
	t := time.NewTicker(handlerRetryEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pending := 0
		g.mu.Lock()
		retries := g.retries
		g.mu.Unlock()
		for _, p := range retries {
			if p.r.Err() == nil {
				continue
			}
			if err := p.r.Try(); err != nil {
				pending++
				d.log.Error("a subscription's handler still cannot be built; retrying in a minute",
					zap.String("subscription", p.name), zap.Error(err))
				continue
			}
			d.log.Info("a subscription's handler is ready", zap.String("subscription", p.name))
		}
		if pending == 0 {
			return
		}
	}
}

// handlerErrors lists the subscriptions whose handler is not built yet, for the status.
func (g *generation) handlerErrors() []string {
	g.mu.Lock()
	retries := g.retries
	g.mu.Unlock()
	var out []string
	for _, p := range retries {
		if err := p.r.Err(); err != nil {
			out = append(out, p.name+": "+err.Error())
		}
	}
	return out
}

// stopGeneration ends the current generation. At shutdown (final) the drain gets
// StopTimeout to see the PUBACKs of what is in flight before the session closes.
func (d *Daemon) stopGeneration(final bool) {
	d.mu.Lock()
	g := d.gen
	d.mu.Unlock()
	if g == nil {
		return
	}
	if final {
		g.drain.Pause()
		g.drain.WaitIdle(d.o.StopTimeout)
	}
	g.cancel()
	g.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), d.o.StopTimeout)
	defer cancel()
	for _, h := range g.handlers {
		if err := h.Close(ctx); err != nil {
			d.log.Warn("handler did not finish", zap.Error(err))
		}
	}
}
