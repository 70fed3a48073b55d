package daemon

import (
	"fmt"
	"strings"
	"time"

	"thingd/clock"
	"thingd/daemon/local"
)

// Status is the document `thingd status --json` prints; the local API's STATUS returns it.
type Status struct {
	Version       string           `json:"version"`
	Thing         string           `json:"thing"`
	Endpoint      string           `json:"endpoint"`
	Uptime        string           `json:"uptime"`
	Connection    ConnectionStatus `json:"connection"`
	Clock         ClockStatus      `json:"clock"`
	Queue         QueueStatus      `json:"queue"`
	Counters      Counters         `json:"counters"`
	Subscriptions []string         `json:"subscriptions"`
	ReloadError   string           `json:"reload_error,omitempty"`
}

// ConnectionStatus is the MQTT session.
type ConnectionStatus struct {
	Connected  bool      `json:"connected"`
	Since      time.Time `json:"since,omitzero"`
	Reconnects int       `json:"reconnects"`
	InFlight   int       `json:"in_flight"`
	LastError  string    `json:"last_error,omitempty"`
}

// ClockStatus is trusted time.
type ClockStatus struct {
	Synced    bool      `json:"synced"`
	Now       time.Time `json:"now"`
	Offset    string    `json:"offset"`
	Source    string    `json:"source"`
	LastSync  time.Time `json:"last_sync,omitzero"`
	Stepped   bool      `json:"stepped"`
	Floor     time.Time `json:"floor"`
	LastError string    `json:"last_error,omitempty"`
}

// QueueStatus is the durable queue.
type QueueStatus struct {
	Depth     int64     `json:"depth"`
	Bytes     int64     `json:"bytes"`
	Oldest    time.Time `json:"oldest,omitzero"`
	OldestAge string    `json:"oldest_age,omitempty"`
}

// Counters are totals since start.
type Counters struct {
	Accepted  uint64 `json:"accepted"`
	Published uint64 `json:"published"`
	Dropped   uint64 `json:"dropped"`
	Refused   uint64 `json:"refused"`
	Corrupt   uint64 `json:"corrupt"`
}

// Status implements local.Backend.
func (d *Daemon) Status() any { return d.status() }

func (d *Daemon) status() Status {
	d.mu.Lock()
	cfg, g, reloadErr := d.cfg, d.gen, d.reloadError
	d.mu.Unlock()
	st := Status{Version: d.o.Version, Thing: cfg.Thing(), Endpoint: fmt.Sprintf("%s:%d", cfg.MQTT.Endpoint, cfg.MQTT.Port),
		Uptime: time.Since(d.started).Round(time.Second).String(), ReloadError: reloadErr, Subscriptions: []string{}}
	for _, s := range cfg.Subscribe {
		st.Subscriptions = append(st.Subscriptions, s.Topic)
	}
	qs := d.queue.Stats()
	st.Queue = QueueStatus{Depth: qs.Depth, Bytes: qs.Bytes, Oldest: qs.OldestTime}
	var door local.Counters
	if d.server != nil {
		door = d.server.Counters()
	}
	st.Counters = Counters{Accepted: qs.Accepted, Dropped: qs.Dropped, Refused: door.Refused, Corrupt: qs.Corrupt}
	if g == nil {
		return st
	}
	now := g.clock.Now()
	if !qs.OldestTime.IsZero() && qs.Depth > 0 {
		st.Queue.OldestAge = now.Sub(qs.OldestTime).Round(time.Second).String()
	}
	st.Clock = clockStatus(g.clock.Status(), now)
	st.Counters.Published = g.drain.Published()
	g.mu.Lock()
	st.Connection.LastError = g.lastErr
	g.mu.Unlock()
	d.mu.Lock()
	s := g.session
	d.mu.Unlock()
	if s != nil {
		ss := s.State()
		st.Connection = ConnectionStatus{Connected: ss.Connected, Since: ss.Since, Reconnects: ss.Reconnects,
			InFlight: ss.InFlight, LastError: ss.LastError}
	}
	return st
}

func clockStatus(c clock.Status, now time.Time) ClockStatus {
	return ClockStatus{Synced: c.Synced, Now: now.UTC(), Offset: c.Offset.String(), Source: c.Server,
		LastSync: c.LastSync, Stepped: c.Stepped, Floor: c.Floor, LastError: c.LastError}
}

// statusLine is systemd's STATUS=: one line a person reads in `systemctl status`.
func (d *Daemon) statusLine() string {
	st := d.status()
	d.mu.Lock()
	g := d.gen
	d.mu.Unlock()
	var b strings.Builder
	if st.ReloadError != "" {
		fmt.Fprintf(&b, "reload failed, running the previous config (%s); ", firstLine(st.ReloadError))
	}
	if st.Connection.Connected {
		fmt.Fprintf(&b, "connected to %s", st.Endpoint)
	} else {
		fmt.Fprintf(&b, "disconnected from %s", st.Endpoint)
		if e := st.Connection.LastError; e != "" {
			// The endpoint is already named; keep the room for the reason.
			for _, p := range []string{"connect to " + st.Endpoint + ": ", "TLS handshake with " + st.Endpoint + ": "} {
				e = strings.TrimPrefix(e, p)
			}
			fmt.Fprintf(&b, " (%s)", shorten(e, 300))
		}
	}
	if g != nil {
		fmt.Fprintf(&b, "; %s", g.clock.Status().String())
	}
	fmt.Fprintf(&b, "; queue %d msgs", st.Queue.Depth)
	if st.Queue.OldestAge != "" {
		fmt.Fprintf(&b, " (oldest %s)", st.Queue.OldestAge)
	}
	fmt.Fprintf(&b, "; published %d", st.Counters.Published)
	return b.String()
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return shorten(line, 120)
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
