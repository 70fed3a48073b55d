package daemon

import (
	"context"

	"go.uber.org/zap"

	"thingd/daemon/jobs"
	"thingd/daemon/session"
	"thingd/daemon/status"
)

// withJobs adds the AWS IoT Jobs agent to a generation when [jobs] is enabled: its
// subscriptions join subs, it hears the session's events, and it runs until ctx ends.
func (d *Daemon) withJobs(ctx context.Context, g *generation, subs []session.Subscription) ([]session.Subscription, func(session.Event)) {
	cfg := g.cfg.Jobs
	if !cfg.Enabled {
		return subs, g.link.event
	}
	var hs []jobs.Handler
	for _, h := range cfg.Handler {
		hs = append(hs, jobs.Handler{Operation: h.Operation, Exec: h.Exec, Timeout: h.Timeout.D(), Reboot: h.Reboot})
	}
	a, err := jobs.New(jobs.Options{
		Thing: g.cfg.Thing(), Handlers: hs, StateFile: cfg.StateFile, BootIDFile: cfg.BootIDFile, Logger: d.log,
		Publish: func(ctx context.Context, topic string, payload []byte) error {
			_, err := g.link.Publish(ctx, topic, 1, payload)
			return err
		},
	})
	if err != nil {
		d.log.Error("jobs are off for this run", zap.Error(err))
		return subs, g.link.event
	}
	g.mu.Lock()
	g.jobs = a
	g.mu.Unlock()
	g.go_(func() { a.Run(ctx) })
	return append(subs, a.Subscriptions()...), func(e session.Event) {
		g.link.event(e)
		a.Event(e)
	}
}

// jobsStatus is the jobs line of the status; nil when [jobs] is off.
func (g *generation) jobsStatus() *status.Jobs {
	g.mu.Lock()
	a := g.jobs
	g.mu.Unlock()
	if a == nil {
		return nil
	}
	st := a.State()
	return &status.Jobs{Current: st.Current, LastJob: st.LastJob, LastStatus: st.LastStatus,
		LastAt: status.TimePtr(st.LastAt), Concluded: st.Concluded}
}
