// Package daemon is thingd's supervisor: it opens the durable queue and the local socket,
// tells systemd it is ready, and keeps clock, MQTT session, drain and collectors running.
package daemon

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"thingd/daemon/config"
	"thingd/daemon/deadletter"
	"thingd/daemon/local"
	"thingd/daemon/queue"
	"thingd/daemon/session"
	"thingd/systemd"
)

// Options are what `thingd run` hands over.
type Options struct {
	Config    *config.Config
	Logger    *zap.Logger
	Level     zap.AtomicLevel
	BuildTime time.Time
	Version   string
	// Reload delivers SIGHUP. Each receive re-reads Config.Path.
	Reload <-chan struct{}
	// StopTimeout bounds the flush of in-flight publishes at shutdown; default 10s.
	StopTimeout time.Duration
	// Notifier talks to systemd; nil builds one from $NOTIFY_SOCKET.
	Notifier *systemd.Notifier
}

// Daemon is one running thingd.
type Daemon struct {
	o        Options
	log      *zap.Logger
	notify   *systemd.Notifier
	queue    *queue.Queue
	dead     *deadletter.Store // nil when it could not be opened (deadErr says why)
	deadErr  error
	server   *local.Server
	progress *systemd.Progress

	mu          sync.Mutex
	cfg         *config.Config
	gen         *generation
	reloadError string
	started     time.Time
}

// Run runs the daemon until ctx ends. It returns nil after a clean stop.
func Run(ctx context.Context, o Options) error {
	d := &Daemon{o: o, log: o.Logger, cfg: o.Config, notify: o.Notifier, started: time.Now()}
	if d.log == nil {
		d.log = zap.NewNop()
	}
	if d.notify == nil {
		d.notify = systemd.NewNotifier(d.log)
	}
	if d.o.StopTimeout <= 0 {
		d.o.StopTimeout = 10 * time.Second
	}
	return d.run(ctx)
}

func (d *Daemon) run(ctx context.Context) error {
	cfg := d.cfg
	q, err := queue.Open(cfg.Queue.Dir, queue.Options{MaxBytes: int64(cfg.Queue.MaxBytes), Logger: d.log, Now: d.now})
	if err != nil {
		return fmt.Errorf("open queue: %w", err)
	}
	d.queue = q
	defer func() {
		if err := q.Close(); err != nil {
			d.log.Error("close queue", zap.Error(err))
		}
	}()
	d.openDeadLetters(cfg.Queue.Dir)
	d.server = &local.Server{Path: cfg.Local.Socket, Thing: d.thing, Backend: d, Logger: d.log.With(zap.String("component", "local"))}
	if err := d.server.Listen(); err != nil {
		return err
	}
	d.progress = systemd.NewProgress(nil, "supervisor", "queue", "drain", "session")

	// Producers can enqueue from here on: boot never waits for the network or the clock.
	if err := d.notify.Ready(); err != nil {
		d.log.Warn("sd_notify READY=1 failed", zap.Error(err))
	}
	st := q.Stats()
	d.log.Info("thingd ready", zap.String("version", d.o.Version), zap.String("config", cfg.Path),
		zap.String("socket", cfg.Local.Socket), zap.Int64("queued", st.Depth))

	serveCtx, stopServe := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := d.server.Serve(serveCtx); err != nil {
			d.log.Error("local socket stopped", zap.Error(err))
		}
	}()
	go func() {
		defer wg.Done()
		if err := d.notify.Watchdog(serveCtx, func() bool { return d.progress.Healthy(watchdogMaxAge) }); err != nil {
			d.log.Warn("watchdog disabled", zap.Error(err))
		}
	}()

	d.startGeneration(ctx, cfg)
	d.supervise(ctx)

	// Stop: refuse new producers first, then give in-flight publishes a deadline.
	_ = d.notify.Stopping()
	d.log.Info("stopping", zap.Duration("flush_deadline", d.o.StopTimeout))
	stopServe()
	d.stopGeneration(true)
	wg.Wait()
	d.log.Info("stopped", zap.Int64("queued", d.queue.Stats().Depth))
	return nil
}

// watchdogMaxAge is how stale a component's heartbeat may be before the watchdog stops
// pinging; the loops beat at least every few seconds.
const watchdogMaxAge = 20 * time.Second

// supervise beats, refreshes STATUS= and handles reloads until ctx ends.
func (d *Daemon) supervise(ctx context.Context) {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	var sess sessionWatch
	for {
		d.progress.Beat("supervisor")
		if d.queueAlive() {
			d.progress.Beat("queue")
		}
		if d.sessionLive(&sess) {
			d.progress.Beat("session")
		}
		_ = d.notify.Status(d.statusLine())
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-d.o.Reload:
			d.reload(ctx)
		}
	}
}

// queueAlive proves the queue's lock is not stuck: Stats takes it.
func (d *Daemon) queueAlive() bool {
	done := make(chan struct{})
	go func() { d.queue.Stats(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(5 * time.Second):
		return false
	}
}

// reload re-reads the config. A bad one keeps the running one and says so.
func (d *Daemon) reload(ctx context.Context) {
	_ = d.notify.Reloading()
	defer func() { _ = d.notify.Ready() }()
	path := d.currentConfig().Path
	cfg, err := config.Load(path)
	if err != nil {
		d.mu.Lock()
		d.reloadError = err.Error()
		d.mu.Unlock()
		d.log.Error("reload refused: keeping the running configuration", zap.String("config", path), zap.Error(err))
		_ = d.notify.Status(d.statusLine())
		return
	}
	if err := d.preflight(cfg); err != nil {
		// caddy's order: what the new configuration needs is checked before the running one
		// is stopped, so a reload naming a missing certificate never drops a working
		// connection.
		d.mu.Lock()
		d.reloadError = err.Error()
		d.mu.Unlock()
		d.log.Error("reload refused: keeping the running configuration", zap.String("config", path), zap.Error(err))
		_ = d.notify.Status(d.statusLine())
		return
	}
	old := d.currentConfig()
	if cfg.Queue != old.Queue || cfg.Local != old.Local {
		d.log.Warn("queue and local socket settings change only on restart", zap.String("config", path))
	}
	if err := systemd.SetLevel(d.o.Level, cfg.Log.Level); err != nil {
		d.log.Warn("log level", zap.Error(err))
	}
	d.stopGeneration(false)
	d.mu.Lock()
	d.cfg, d.reloadError = cfg, ""
	d.mu.Unlock()
	d.startGeneration(ctx, cfg)
	d.log.Info("configuration reloaded", zap.String("config", path))
}

// sessionWatch judges the session loop by what it does: connected (paho's keepalive takes
// a dead connection down), or still making connection attempts on its backoff schedule.
type sessionWatch struct {
	s        *session.Session
	attempts int
	changed  time.Time
}

// maxAttemptGap is the longest a live loop goes without a new attempt: the backoff cap
// plus one attempt's timeout, with room to spare.
const maxAttemptGap = session.DefaultBackoffMax + session.DefaultConnectTimeout + 30*time.Second

func (w *sessionWatch) alive(s *session.Session) bool {
	now := time.Now()
	if s == nil || s != w.s {
		// Not started yet (waiting for trusted time or for its files) or just replaced.
		w.s, w.attempts, w.changed = s, 0, now
		return true
	}
	st := s.State()
	if st.Attempts != w.attempts {
		w.attempts, w.changed = st.Attempts, now
	}
	return st.Connected || now.Sub(w.changed) < maxAttemptGap
}

// sessionLive is the watchdog's view of the session: making attempts or connected, and not
// a generation that could not even make one.
func (d *Daemon) sessionLive(w *sessionWatch) bool {
	return w.alive(d.currentSession()) && !d.sessionGaveUp()
}

// sessionGaveUp reports a generation whose session could not even be made: nothing would
// ever connect, so the watchdog must stop and let systemd restart thingd.
func (d *Daemon) sessionGaveUp() bool {
	d.mu.Lock()
	g := d.gen
	d.mu.Unlock()
	if g == nil {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.gaveUp
}

func (d *Daemon) currentSession() *session.Session {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.gen == nil {
		return nil
	}
	return d.gen.session
}

func (d *Daemon) currentConfig() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

func (d *Daemon) thing() string { return d.currentConfig().Thing() }

// Enqueue implements local.Backend: durable before it returns.
// The messages come with a zero Time, which the queue stamps with d.now (Options.Now).
func (d *Daemon) Enqueue(ctx context.Context, msgs []queue.Message) error {
	return d.queue.Append(ctx, msgs...)
}

// now is trusted time when a clock runs, the system clock otherwise.
func (d *Daemon) now() time.Time {
	d.mu.Lock()
	g := d.gen
	d.mu.Unlock()
	if g != nil {
		return g.clock.Now()
	}
	return time.Now()
}
