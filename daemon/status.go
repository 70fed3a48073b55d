package daemon

import (
	"fmt"
	"time"

	"thingd/clock"
	"thingd/daemon/local"
	"thingd/daemon/provision"
	"thingd/daemon/status"
)

// Status implements local.Backend: the STATUS answer is the one status value.
func (d *Daemon) Status() any { return d.status() }

// status gathers the one value every view (socket, `thingd status`, STATUS=) prints.
func (d *Daemon) status() status.Status {
	d.mu.Lock()
	cfg, g, reloadErr := d.cfg, d.gen, d.reloadError
	d.mu.Unlock()
	st := status.Status{Version: d.o.Version, Thing: cfg.Thing(), Endpoint: fmt.Sprintf("%s:%d", cfg.MQTT.Endpoint, cfg.MQTT.Port),
		Uptime: time.Since(d.started).Round(time.Second).String(), ReloadError: reloadErr, Subscriptions: []string{}}
	for _, s := range cfg.Subscribe {
		st.Subscriptions = append(st.Subscriptions, s.Topic)
	}
	st.Identity = provision.Status(cfg) // nil unless provisioned by claim
	qs := d.queue.Stats()
	st.Queue = status.Queue{Depth: qs.Depth, AckedAhead: qs.AckedAhead, Bytes: qs.Bytes, Oldest: status.TimePtr(qs.OldestTime)}
	var door local.Counters
	if d.server != nil {
		door = d.server.Counters()
	}
	st.DeadLetters = d.deadLetterStatus()
	st.Counters = status.Counters{Accepted: qs.Accepted, Dropped: qs.Dropped, Refused: door.Refused, Corrupt: qs.Corrupt, Lost: qs.CorruptTotal}
	if g == nil {
		return st
	}
	st.Shadow = g.shadowState()
	now := g.clock.Now()
	if !qs.OldestTime.IsZero() && qs.Depth > 0 {
		st.Queue.OldestAge = now.Sub(qs.OldestTime).Round(time.Second).String()
	}
	st.Clock = clockStatus(g.clock.Status(), now)
	st.Counters.Published = g.drain.Published()
	st.Counters.LostPubacks, st.Counters.OvertakenPubacks = g.drain.LateAcks(), g.drain.Overtaken()
	g.mu.Lock()
	st.Connection.LastError = g.lastErr
	g.mu.Unlock()
	st.HandlerErrors = g.handlerErrors()
	st.Jobs = g.jobsStatus()
	d.mu.Lock()
	s := g.session
	d.mu.Unlock()
	if s != nil {
		ss := s.State()
		st.Connection = status.Connection{Connected: ss.Connected, Since: status.TimePtr(ss.Since), Reconnects: ss.Reconnects,
			InFlight: ss.InFlight, LastError: ss.LastError}
	}
	return st
}

func clockStatus(c clock.Status, now time.Time) status.Clock {
	return status.Clock{Synced: c.Synced, Now: now.UTC(), Offset: c.Offset.String(), Source: c.Server,
		LastSync: status.TimePtr(c.LastSync), Stepped: c.Stepped, Floor: c.Floor, LastError: c.LastError, Summary: c.String()}
}

// statusLine is systemd's STATUS=.
func (d *Daemon) statusLine() string { return d.status().Line() }
