package shadow

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"thingd/daemon/config"
	"thingd/internal/testbed/awsiot"
)

// cloud is the fake: AWS's shadow service (the testbed's, in process) behind a fake
// publisher that hands the service's answers straight to the agent, as the session would.
type cloud struct {
	t     *testing.T
	sh    *awsiot.Shadow
	agent *Agent

	mu      sync.Mutex
	offline bool // answers and cloud-side updates do not reach the device
	sent    []awsiot.Message
	answers []awsiot.Message
	applied []*config.Config
	status  map[string]any
}

func (c *cloud) Publish(_ context.Context, topic string, payload []byte) error {
	c.mu.Lock()
	c.sent = append(c.sent, awsiot.Message{Topic: topic, Payload: payload})
	c.mu.Unlock()
	replies, _ := c.sh.Handle("pi", topic, payload)
	for _, r := range replies {
		_ = c.deliver(r.Topic, r.Payload)
	}
	return nil
}

// deliver is the broker's side: what it publishes reaches the agent when subscribed.
func (c *cloud) deliver(topic string, payload []byte) error {
	c.mu.Lock()
	c.answers = append(c.answers, awsiot.Message{Topic: topic, Payload: payload})
	off := c.offline
	c.mu.Unlock()
	if off {
		return nil
	}
	for _, s := range c.agent.Subscriptions() {
		if match(s.Filter, topic) {
			return s.Handle(context.Background(), topic, payload)
		}
	}
	return nil
}

// cloudPub is the awsiot.Publisher for SetDesired.
type cloudPub struct{ c *cloud }

func (p cloudPub) Publish(topic string, payload []byte, _ byte) error {
	return p.c.deliver(topic, payload)
}

func (c *cloud) setStatus(m map[string]any) {
	c.mu.Lock()
	c.status = m
	c.mu.Unlock()
}

func (c *cloud) setOffline(off bool) {
	c.mu.Lock()
	c.offline = off
	c.mu.Unlock()
}

func (c *cloud) rejected(code int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, m := range c.answers {
		if strings.HasSuffix(m.Topic, "/update/rejected") && strings.Contains(string(m.Payload), `"code":`+itoa(code)) {
			n++
		}
	}
	return n
}

func (c *cloud) updates() []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []map[string]any
	for _, m := range c.sent {
		if strings.HasSuffix(m.Topic, "/update") {
			var v map[string]any
			_ = json.Unmarshal(m.Payload, &v)
			out = append(out, v["state"].(map[string]any)["reported"].(map[string]any)[Key].(map[string]any))
		}
	}
	return out
}

func (c *cloud) lastApplied() *config.Config {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.applied) == 0 {
		return nil
	}
	return c.applied[len(c.applied)-1]
}

// match is MQTT's filter match for the + wildcard the agent uses.
func match(filter, topic string) bool {
	f, t := strings.Split(filter, "/"), strings.Split(topic, "/")
	if len(f) != len(t) {
		return false
	}
	for i := range f {
		if f[i] != "+" && f[i] != t[i] {
			return false
		}
	}
	return true
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

const baseTOML = `version = 1
[mqtt]
endpoint = "a1-ats.iot.eu-west-1.amazonaws.com"
client_id = "pi"
[[telemetry]]
topic = "dt/{thing}/system"
interval = "60s"
`

func fileConfig(t *testing.T, extra string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("/etc/thingd/thingd.toml", []byte(baseTOML+extra))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

type setup struct {
	extra    string
	interval time.Duration
	state    string
	sh       *awsiot.Shadow
}

// run starts an agent against the fake cloud and signals a first connection.
func run(t *testing.T, s setup) *cloud {
	t.Helper()
	if s.interval == 0 {
		s.interval = time.Hour
	}
	if s.state == "" {
		s.state = filepath.Join(t.TempDir(), "shadow.json")
	}
	if s.sh == nil {
		s.sh = awsiot.NewShadow()
	}
	file := fileConfig(t, s.extra)
	c := &cloud{t: t, sh: s.sh, status: map[string]any{"queue": map[string]any{"depth": 0}}}
	c.agent = New(Options{
		Thing: "pi", Local: file.Shadow.Local, Interval: s.interval, Settle: 10 * time.Millisecond, Timeout: time.Second,
		Publish: c.Publish,
		Status: func() map[string]any {
			c.mu.Lock()
			defer c.mu.Unlock()
			return normalize(c.status)
		},
		Base: func() *config.Config { return file },
		Apply: func(eff *config.Config) {
			c.mu.Lock()
			c.applied = append(c.applied, eff)
			c.mu.Unlock()
		},
		StateFile: s.state,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.agent.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	c.agent.Connected()
	return c
}

// eventually polls cond (a failure guard, not a timing assertion).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func reportedThingd(c *cloud) map[string]any {
	doc, _ := c.sh.Document("pi", "")
	m, _ := doc.Reported[Key].(map[string]any)
	return m
}

func path(m map[string]any, p string) any {
	var v any = m
	for _, k := range strings.Split(p, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

func TestReportsStateAndSettingsOnConnect(t *testing.T) {
	c := run(t, setup{})
	eventually(t, "reported state", func() bool { return path(reportedThingd(c), "queue.depth") == 0.0 })
	rep := reportedThingd(c)
	if path(rep, "log.level") != "info" || path(rep, "telemetry.interval") != "1m0s" || path(rep, "mqtt.max_publish_rate") != 100.0 {
		t.Fatalf("reported settings %v", rep)
	}
	if _, ok := rep["refused"]; ok {
		t.Fatalf("refusals with nothing desired: %v", rep)
	}
}

// TestStatusChangesWaitForTheInterval: with a long interval, a changed status is not sent
// again, while a changed setting goes out at once and carries only the settings.
func TestStatusChangesWaitForTheInterval(t *testing.T) {
	c := run(t, setup{})
	eventually(t, "first update", func() bool { return len(c.updates()) == 1 && reportedThingd(c) != nil })
	c.setStatus(map[string]any{"queue": map[string]any{"depth": 5}})
	if _, err := c.sh.SetDesired(cloudPub{c}, "pi", "", map[string]any{Key: map[string]any{"log": map[string]any{"level": "debug"}}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "setting reported", func() bool { return path(reportedThingd(c), "log.level") == "debug" })
	ups := c.updates()
	if len(ups) != 2 {
		t.Fatalf("updates %v", ups)
	}
	if _, ok := ups[1]["queue"]; ok {
		t.Fatalf("the status change did not wait for the interval: %v", ups[1])
	}
	if path(reportedThingd(c), "queue.depth") != 0.0 {
		t.Fatalf("reported %v", reportedThingd(c))
	}
}

// TestStatusCoalesced: with a short interval, the status goes out again, as one update
// holding only what changed.
func TestStatusCoalesced(t *testing.T) {
	c := run(t, setup{interval: 50 * time.Millisecond})
	eventually(t, "first update", func() bool { return reportedThingd(c) != nil })
	c.setStatus(map[string]any{"queue": map[string]any{"depth": 1}})
	c.setStatus(map[string]any{"queue": map[string]any{"depth": 7}})
	eventually(t, "status update", func() bool { return path(reportedThingd(c), "queue.depth") == 7.0 })
	ups := c.updates()
	last := ups[len(ups)-1]
	if len(last) != 1 || path(last, "queue.depth") != 7.0 {
		t.Fatalf("the update sends more than the change: %v", last)
	}
	for _, u := range ups {
		if path(u, "queue.depth") == 1.0 {
			t.Fatalf("a value replaced before its interval was sent: %v", ups)
		}
	}
}

func TestDesiredAppliedPersistedAndDeltaCleared(t *testing.T) {
	state := filepath.Join(t.TempDir(), "shadow.json")
	sh := awsiot.NewShadow()
	c := run(t, setup{state: state, sh: sh})
	eventually(t, "online", func() bool { return reportedThingd(c) != nil })
	if _, err := sh.SetDesired(cloudPub{c}, "pi", "", map[string]any{Key: map[string]any{
		"telemetry": map[string]any{"interval": "10s"}, "mqtt": map[string]any{"max_publish_rate": 20}}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "applied", func() bool {
		eff := c.lastApplied()
		return eff != nil && eff.Telemetry[0].Interval.D() == 10*time.Second && eff.MQTT.MaxPublishRate == 20
	})
	eventually(t, "reported", func() bool {
		rep := reportedThingd(c)
		return path(rep, "telemetry.interval") == "10s" && path(rep, "mqtt.max_publish_rate") == 20.0
	})
	b, err := os.ReadFile(state)
	if err != nil || !strings.Contains(string(b), `"interval": "10s"`) && !strings.Contains(string(b), `"telemetry.interval": "10s"`) {
		t.Fatalf("state file %s: %v", b, err)
	}
	// An offline restart starts with the accepted settings.
	again := New(Options{Thing: "pi", Base: func() *config.Config { return fileConfig(t, "") }, StateFile: state, Apply: func(*config.Config) {}})
	if eff := again.Effective(); eff.Telemetry[0].Interval.D() != 10*time.Second || eff.MQTT.MaxPublishRate != 20 {
		t.Fatalf("after restart: %+v %d", eff.Telemetry, eff.MQTT.MaxPublishRate)
	}
}

// TestInvalidDesiredRefusedOthersApplied: an invalid value is refused with the file's
// reason in reported.thingd.refused, the valid one beside it applies, nothing else changes.
func TestInvalidDesiredRefusedOthersApplied(t *testing.T) {
	c := run(t, setup{})
	eventually(t, "online", func() bool { return reportedThingd(c) != nil })
	if _, err := c.sh.SetDesired(cloudPub{c}, "pi", "", map[string]any{Key: map[string]any{
		"telemetry": map[string]any{"interval": "100ms"}, "log": map[string]any{"level": "debug"}, "colour": "red"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "refusal reported", func() bool { return path(reportedThingd(c), "refused.telemetry.interval") != nil })
	rep := reportedThingd(c)
	if r, _ := path(rep, "refused.telemetry.interval").(string); !strings.Contains(r, `use at least "1s"`) || !strings.Contains(r, `"100ms"`) {
		t.Fatalf("reason %q", r)
	}
	if r, _ := path(rep, "refused.colour").(string); !strings.Contains(r, "not a setting") {
		t.Fatalf("unknown key: %v", rep)
	}
	if path(rep, "telemetry.interval") != "1m0s" || path(rep, "log.level") != "debug" {
		t.Fatalf("reported %v", rep)
	}
	if eff := c.lastApplied(); eff == nil || eff.Telemetry[0].Interval.D() != time.Minute || eff.Log.Level != "debug" {
		t.Fatalf("applied %+v", eff)
	}
	eventually(t, "state", func() bool {
		st := c.agent.State()
		return st.InSync && st.Settings["log.level"] == "debug" && strings.Contains(st.Refused["telemetry.interval"], "1s")
	})
	// Fixing the value clears the refusal.
	if _, err := c.sh.SetDesired(cloudPub{c}, "pi", "", map[string]any{Key: map[string]any{"telemetry": map[string]any{"interval": "5s"}}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "refusal cleared", func() bool {
		rep := reportedThingd(c)
		return path(rep, "telemetry.interval") == "5s" && path(rep, "refused.telemetry.interval") == nil
	})
}

func TestLockedSettingRefused(t *testing.T) {
	c := run(t, setup{extra: "[shadow]\nlock = [\"log.level\"]\n"})
	eventually(t, "online", func() bool { return reportedThingd(c) != nil })
	if _, err := c.sh.SetDesired(cloudPub{c}, "pi", "", map[string]any{Key: map[string]any{"log": map[string]any{"level": "debug"}}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "refusal reported", func() bool {
		r, _ := path(reportedThingd(c), "refused.log.level").(string)
		return strings.Contains(r, "locked by shadow.lock")
	})
	if c.lastApplied() != nil || path(reportedThingd(c), "log.level") != "info" {
		t.Fatalf("a locked setting changed: %v", reportedThingd(c))
	}
}

// TestDesiredMissedOfflineTakenOnReconnect: a change made while the device was away (no
// delta reached it) applies after the get that follows the reconnect; a removed key
// returns to the file's value.
func TestDesiredMissedOfflineTakenOnReconnect(t *testing.T) {
	c := run(t, setup{})
	eventually(t, "online", func() bool { return reportedThingd(c) != nil })
	c.setOffline(true)
	if _, err := c.sh.SetDesired(cloudPub{c}, "pi", "", map[string]any{Key: map[string]any{"log": map[string]any{"level": "warn"}}}); err != nil {
		t.Fatal(err)
	}
	c.setOffline(false)
	// Both events may be waiting when the agent looks: the newest state wins.
	c.agent.Disconnected()
	c.agent.Connected()
	eventually(t, "applied after reconnect", func() bool { eff := c.lastApplied(); return eff != nil && eff.Log.Level == "warn" })
	if _, err := c.sh.SetDesired(cloudPub{c}, "pi", "", map[string]any{Key: nil}); err != nil {
		t.Fatal(err)
	}
	c.agent.Connected()
	eventually(t, "back to the file", func() bool { eff := c.lastApplied(); return eff.Log.Level == "info" })
	eventually(t, "reported", func() bool { return path(reportedThingd(c), "log.level") == "info" })
}

// TestVersionConflictRetried: an update answered 409 (the shadow moved on without the
// device seeing it) is followed by a get and sent again on the new version.
func TestVersionConflictRetried(t *testing.T) {
	c := run(t, setup{interval: 20 * time.Millisecond})
	eventually(t, "online", func() bool { return reportedThingd(c) != nil })
	c.setOffline(true)
	if _, err := c.sh.SetReported(cloudPub{c}, "pi", "", map[string]any{"app": "x"}); err != nil {
		t.Fatal(err)
	}
	c.setOffline(false)
	c.setStatus(map[string]any{"queue": map[string]any{"depth": 3}})
	eventually(t, "update after the conflict", func() bool { return path(reportedThingd(c), "queue.depth") == 3.0 })
	if n := c.rejected(409); n < 1 {
		t.Fatalf("no version conflict happened (%d): the test shows nothing", n)
	}
	if st := c.agent.State(); st.LastRejected != "409 Version conflict" || st.Updates < 2 {
		t.Fatalf("state %+v", st)
	}
	if doc, _ := c.sh.Document("pi", ""); doc.Reported["app"] != "x" {
		t.Fatalf("the other writer's attribute is gone: %v", doc.Reported)
	}
}

// TestLocalGet: a local program's get of any shadow of the thing gets AWS's answer, and the
// agent does not take it for its own.
func TestLocalGet(t *testing.T) {
	c := run(t, setup{extra: "[shadow]\nlocal = [\"app\", \"none\"]\n"})
	eventually(t, "online", func() bool { return reportedThingd(c) != nil })
	if _, err := c.sh.SetReported(cloudPub{c}, "pi", "app", map[string]any{"x": 1}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	doc, err := c.agent.Get(ctx, "app")
	if err != nil || !strings.Contains(string(doc), `"reported":{"x":1}`) {
		t.Fatalf("get app: %s %v", doc, err)
	}
	doc, err = c.agent.Get(ctx, "")
	if err != nil || !strings.Contains(string(doc), `"thingd":`) {
		t.Fatalf("get classic: %s %v", doc, err)
	}
	doc, err = c.agent.Get(ctx, "none")
	if err != nil || !strings.Contains(string(doc), `"code":404`) {
		t.Fatalf("get none: %s %v", doc, err)
	}
	if _, err := c.agent.Get(ctx, "other"); err == nil || !strings.Contains(err.Error(), "not in [shadow] local") {
		t.Fatalf("get of a shadow not listed: %v", err)
	}
	var filters []string
	for _, s := range c.agent.Subscriptions() {
		filters = append(filters, s.Filter)
		if strings.ContainsAny(s.Filter, "+#") {
			t.Errorf("wildcard subscription %s: a policy listing topics would refuse it", s.Filter)
		}
	}
	if len(filters) != 9 {
		t.Errorf("subscriptions %v", filters)
	}
}
