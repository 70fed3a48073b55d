// Package status is thingd's one status value. The supervisor fills a Status; the local
// API's STATUS answer and `thingd status --json` are its JSON, `thingd status` prints
// Text(), systemd's STATUS= is Line(), and the shadow's reported state will be built from
// the same value. A new counter is a field in Counters: JSON, Text and the golden tests
// pick it up from its json tag.
package status

import (
	"fmt"
	"reflect"
	"strings"
	"time"
)

// Status is the document `thingd status --json` prints; the local API's STATUS returns it.
type Status struct {
	Version       string      `json:"version"`
	Thing         string      `json:"thing"`
	Endpoint      string      `json:"endpoint"`
	Uptime        string      `json:"uptime"`
	Connection    Connection  `json:"connection"`
	Clock         Clock       `json:"clock"`
	Queue         Queue       `json:"queue"`
	Counters      Counters    `json:"counters"`
	DeadLetters   DeadLetters `json:"dead_letters"`
	Subscriptions []string    `json:"subscriptions"`
	// HandlerErrors names each [[subscribe]] whose handler cannot be built yet (retried every
	// minute); its messages are left for the broker to deliver again.
	HandlerErrors []string `json:"handler_errors,omitempty"`
	ReloadError   string   `json:"reload_error,omitempty"`
	Jobs          *Jobs    `json:"jobs,omitempty"`
	Shadow        *Shadow  `json:"shadow,omitempty"`

	Identity *Identity `json:"identity,omitempty"`
}

// Connection is the MQTT session. Times that have not happened are nil, so JSON omits
// them (Go 1.22's encoding/json has no omitzero).
type Connection struct {
	Connected  bool       `json:"connected"`
	Since      *time.Time `json:"since,omitempty"`
	Reconnects int        `json:"reconnects"`
	InFlight   int        `json:"in_flight"`
	LastError  string     `json:"last_error,omitempty"`
}

// Clock is trusted time.
type Clock struct {
	Synced    bool       `json:"synced"`
	Now       time.Time  `json:"now"`
	Offset    string     `json:"offset"`
	Source    string     `json:"source"`
	LastSync  *time.Time `json:"last_sync,omitempty"`
	Stepped   bool       `json:"stepped"`
	Floor     time.Time  `json:"floor"`
	LastError string     `json:"last_error,omitempty"`
	// Summary is the clock's own one-line account (clock.Status.String), for STATUS=.
	Summary string `json:"summary,omitempty"`
}

// Queue is the durable queue.
type Queue struct {
	Depth int64 `json:"depth"`
	// AckedAhead are messages the broker acknowledged while an older one is not yet
	// acknowledged: they stay on disk until it is, and a crash now sends them again.
	AckedAhead int64      `json:"acked_ahead"`
	Bytes      int64      `json:"bytes"`
	Oldest     *time.Time `json:"oldest,omitempty"`
	OldestAge  string     `json:"oldest_age,omitempty"`
}

// Counters are totals since start. Every field is a uint64 whose json tag names it in
// Text() too: adding a counter is adding a field here (and filling it).
type Counters struct {
	Accepted  uint64 `json:"accepted"`
	Published uint64 `json:"published"`
	Dropped   uint64 `json:"dropped"`
	Refused   uint64 `json:"refused"`
	Corrupt   uint64 `json:"corrupt"`
	// Lost is every message lost to corruption or a missing file, earlier runs included.
	Lost uint64 `json:"lost"`
	// LostPubacks are the PUBACKs thingd gave up on, each answered with a reconnect and a
	// resend; OvertakenPubacks are those found because later PUBACKs came first (see
	// docs/uplink.md: a broker answering out of order by over 5 s would raise only these).
	LostPubacks      uint64 `json:"lost_pubacks"`
	OvertakenPubacks uint64 `json:"overtaken_pubacks"`
}

// TimePtr returns nil for the zero time, else &t: the form the optional times take.
func TimePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// pairs lists the counters as "name value" in field order, named by their json tags.
func (c Counters) pairs() []string {
	v := reflect.ValueOf(c)
	out := make([]string, 0, v.NumField())
	for i := range v.NumField() {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		out = append(out, fmt.Sprintf("%s %d", name, v.Field(i).Uint()))
	}
	return out
}

// Line is systemd's STATUS=: one line a person reads in `systemctl status`.
func (s Status) Line() string {
	var b strings.Builder
	if s.ReloadError != "" {
		fmt.Fprintf(&b, "reload failed, running the previous config (%s); ", firstLine(s.ReloadError))
	}
	if s.Connection.Connected {
		fmt.Fprintf(&b, "connected to %s", s.Endpoint)
	} else {
		fmt.Fprintf(&b, "disconnected from %s", s.Endpoint)
		if e := s.Connection.LastError; e != "" {
			// The endpoint is already named; keep the room for the reason.
			for _, p := range []string{"connect to " + s.Endpoint + ": ", "TLS handshake with " + s.Endpoint + ": "} {
				e = strings.TrimPrefix(e, p)
			}
			fmt.Fprintf(&b, " (%s)", shorten(e, 300))
		}
	}
	if s.Clock.Summary != "" {
		fmt.Fprintf(&b, "; %s", s.Clock.Summary)
	}
	fmt.Fprintf(&b, "; queue %d msgs", s.Queue.Depth)
	if s.Queue.OldestAge != "" {
		fmt.Fprintf(&b, " (oldest %s)", s.Queue.OldestAge)
	}
	fmt.Fprintf(&b, "; published %d", s.Counters.Published)
	if n := len(s.HandlerErrors); n > 0 {
		fmt.Fprintf(&b, "; %d handler(s) not ready (%s)", n, firstLine(s.HandlerErrors[0]))
	}
	b.WriteString(s.DeadLetters.line())
	return b.String()
}

// Text is what `thingd status` prints: a few aligned lines, times in local time where
// they say when something began.
func (s Status) Text() string {
	var w strings.Builder
	conn := "disconnected"
	if s.Connection.Connected {
		conn = "connected"
		if s.Connection.Since != nil {
			conn += " since " + s.Connection.Since.Local().Format(time.RFC3339)
		}
	}
	fmt.Fprintf(&w, "thingd %s, up %s, thing %s\n", s.Version, s.Uptime, s.Thing)
	fmt.Fprintf(&w, "connection  %s: %s, %d reconnects, %d in flight\n", s.Endpoint, conn, s.Connection.Reconnects, s.Connection.InFlight)
	if s.Connection.LastError != "" {
		fmt.Fprintf(&w, "            last error: %s\n", s.Connection.LastError)
	}
	clk := "unsynced"
	if s.Clock.Synced {
		last := "never"
		if s.Clock.LastSync != nil {
			last = s.Clock.LastSync.Format(time.RFC3339)
		}
		clk = fmt.Sprintf("synced via %s, offset %s, last sync %s", s.Clock.Source, s.Clock.Offset, last)
	}
	fmt.Fprintf(&w, "clock       %s (now %s, floor %s)\n", clk, s.Clock.Now.Format(time.RFC3339), s.Clock.Floor.Format(time.RFC3339))
	if s.Clock.LastError != "" {
		fmt.Fprintf(&w, "            last error: %s\n", s.Clock.LastError)
	}
	fmt.Fprintf(&w, "queue       %d messages, %d bytes", s.Queue.Depth, s.Queue.Bytes)
	if s.Queue.OldestAge != "" {
		fmt.Fprintf(&w, ", oldest %s old", s.Queue.OldestAge)
	}
	fmt.Fprintln(&w)
	fmt.Fprintf(&w, "counters    %s\n", strings.Join(s.Counters.pairs(), ", "))
	w.WriteString(s.DeadLetters.text())
	subs := strings.Join(s.Subscriptions, ", ")
	if subs == "" {
		subs = "(none)"
	}
	fmt.Fprintf(&w, "subscribed  %s\n", subs)
	for _, e := range s.HandlerErrors {
		fmt.Fprintf(&w, "handler     NOT READY, retried every minute: %s\n", e)
	}
	if s.Jobs != nil {
		fmt.Fprintf(&w, "jobs        %s\n", s.Jobs.text())
	}
	if s.Shadow != nil {
		w.WriteString(s.Shadow.text())
	}
	if s.Identity != nil {
		w.WriteString(s.Identity.text())
	}
	if s.ReloadError != "" {
		fmt.Fprintf(&w, "reload      FAILED, running the previous config: %s\n", s.ReloadError)
	}
	return w.String()
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
