// Package shadow keeps the thing's Device Shadow: thingd's state under state.reported.thingd,
// and the settings an operator puts under state.desired.thingd applied live (docs/shadow.md).
//
// It speaks AWS's MQTT shadow protocol on the daemon's own session: a get after every
// (re)connect, so deltas missed offline are not lost; the delta topic while connected;
// reported updates carrying only what changed since the shadow last accepted, at most one
// per Settle and status-only changes at most one per Interval, so a backlog or a long outage
// cannot cause an update storm; a version conflict (409) is answered by a get and a resend.
package shadow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"thingd/daemon/config"
	"thingd/daemon/session"
	"thingd/daemon/status"
	"thingd/internal/atomicfile"
)

// Key is the attribute of desired and reported that belongs to thingd; the rest of a
// classic shadow stays the applications'.
const Key = "thingd"

// Defaults and bounds, documented in docs/shadow.md.
const (
	DefaultSettle   = time.Second      // least time between two updates of any kind
	DefaultTimeout  = 30 * time.Second // an answer not seen by then is asked again
	MaxReason       = 200              // bytes of one refusal reason in reported.thingd.refused
	MaxRefused      = 8                // refusals reported at once
	MaxShadowSize   = 8 * 1024         // AWS's limit on a shadow's state document
	maxUpdateBytes  = MaxShadowSize / 2
	inboxSize       = 32
	settingsRefused = "refused"
)

// Options configure an Agent.
type Options struct {
	Thing string
	// Name is the named shadow; "" is the classic one.
	Name string
	// Local are the other named shadows Get may read ([shadow] local).
	Local []string
	// Interval is the least time between two updates that change only the status.
	Interval time.Duration
	// Settle is the least time between any two updates; default DefaultSettle.
	Settle time.Duration
	// Timeout is how long an answer may take before the request is repeated; default DefaultTimeout.
	Timeout time.Duration
	// Publish sends a request (QoS 1) on the daemon's session; it fails while disconnected.
	Publish func(ctx context.Context, topic string, payload []byte) error
	// Status is thingd's state as reported (JSON-able values), called at most once per Settle.
	Status func() map[string]any
	// Base is the file's configuration, the ground the settings stand on.
	Base func() *config.Config
	// Apply puts an effective configuration (Base plus the accepted settings) into effect.
	Apply func(*config.Config)
	// StateFile keeps the accepted settings across restarts.
	StateFile string
	Logger    *zap.Logger
}

// Agent is one shadow client. Handle messages through Subscriptions, signal connections
// with Connected, and Run it.
type Agent struct {
	o    Options
	log  *zap.Logger
	base string // $aws/things/<thing>/shadow[/name/<n>]
	in   chan message
	link chan struct{} // the connection changed; read linkUp and linkSeq

	waitMu  sync.Mutex
	waiters map[string]chan []byte // local Get requests by clientToken

	updates      uint64
	lastUpdate   time.Time
	lastRejected string
	stateMu      sync.Mutex
	state        status.Shadow // a copy for State, refreshed by Run

	linkMu  sync.Mutex
	linkUp  bool
	linkSeq int // subscribed connections so far
	handled int // linkSeq the agent has sent its get for

	accepted map[string]any    // setting key -> desired value in effect
	refused  map[string]string // setting key -> why not

	online    bool           // a get was answered on this connection
	confirmed map[string]any // reported.thingd as the shadow holds it
	version   int            // last seen; 0 = unknown
	getToken  string
	getAt     time.Time
	pending   *update
	lastAny   time.Time
	lastStat  time.Time
	holdUntil time.Time // after a rejection other than 409
	seq       int
}

type message struct {
	topic   string
	payload []byte
}

type update struct {
	token string
	diff  map[string]any
	at    time.Time
}

// New makes an Agent and loads the accepted settings kept in StateFile (a missing file is
// none; a damaged one is logged and ignored, the file's config then holds).
func New(o Options) *Agent {
	if o.Settle <= 0 {
		o.Settle = DefaultSettle
	}
	if o.Interval < o.Settle {
		o.Interval = o.Settle
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	a := &Agent{
		o: o, log: o.Logger.With(zap.String("component", "shadow")), base: Topic(o.Thing, o.Name),
		in: make(chan message, inboxSize), link: make(chan struct{}, 1),
		accepted: map[string]any{}, refused: map[string]string{},
	}
	if err := a.load(); err != nil {
		a.log.Error("ignoring the saved shadow settings; the config file's values hold until the shadow is read", zap.Error(err))
	}
	return a
}

// Topic is the prefix of the shadow's topics.
func Topic(thing, name string) string {
	t := "$aws/things/" + thing + "/shadow"
	if name != "" {
		t += "/name/" + name
	}
	return t
}

// Subscriptions are the answer topics the agent needs, each named exactly (a policy
// without wildcards works): its own shadow's get and update answers and delta, and the get
// answers of the Local shadows. Handle returns at once: the agent works on its own
// goroutine; a full inbox leaves a QoS 1 message unacknowledged, so the broker delivers it
// again.
func (a *Agent) Subscriptions() []session.Subscription {
	var subs []session.Subscription
	for _, t := range []string{"/get/accepted", "/get/rejected", "/update/accepted", "/update/rejected", "/update/delta"} {
		subs = append(subs, session.Subscription{Filter: a.base + t, QoS: 1, Handle: a.handle})
	}
	for _, n := range a.o.Local {
		if n == a.o.Name {
			continue
		}
		for _, t := range []string{"/get/accepted", "/get/rejected"} {
			subs = append(subs, session.Subscription{Filter: Topic(a.o.Thing, n) + t, QoS: 1, Handle: a.handle})
		}
	}
	return subs
}

func (a *Agent) handle(_ context.Context, topic string, payload []byte) error {
	if strings.Contains(topic, "/get/") && a.answerWaiter(payload) {
		return nil // the answer to a local Get
	}
	if !strings.HasPrefix(topic, a.base+"/") || strings.Contains(strings.TrimPrefix(topic, a.base+"/"), "name/") {
		return nil // a Local shadow's get answer that nobody here waits for any more
	}
	select {
	case a.in <- message{topic: topic, payload: slices.Clone(payload)}:
		return nil
	default:
		return errors.New("shadow inbox full")
	}
}

// ErrOffline is Get's error while the session is not connected.
var ErrOffline = errors.New("not connected to AWS IoT")

// Get asks for the agent's own shadow or one of the Local ones (name "" for the classic
// one) and returns AWS's answer document (get/accepted or get/rejected) as it came.
func (a *Agent) Get(ctx context.Context, name string) ([]byte, error) {
	if name != a.o.Name && !slices.Contains(a.o.Local, name) {
		if name == "" {
			return nil, fmt.Errorf("thingd uses the named shadow %q, so it does not read the classic shadow", a.o.Name)
		}
		return nil, fmt.Errorf("shadow %q is not in [shadow] local; add it there (and reload) so thingd subscribes to its answers", name)
	}
	tok := localToken + strconv.FormatInt(time.Now().UnixNano(), 36)
	ch := make(chan []byte, 1)
	a.waitMu.Lock()
	if a.waiters == nil {
		a.waiters = map[string]chan []byte{}
	}
	a.waiters[tok] = ch
	a.waitMu.Unlock()
	defer func() {
		a.waitMu.Lock()
		delete(a.waiters, tok)
		a.waitMu.Unlock()
	}()
	payload, _ := json.Marshal(map[string]string{"clientToken": tok})
	if err := a.o.Publish(ctx, Topic(a.o.Thing, name)+"/get", payload); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOffline, err)
	}
	select {
	case doc := <-ch:
		return doc, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("no answer from the shadow service: %w", ctx.Err())
	}
}

// answerWaiter hands a get answer to the local Get that carries its clientToken, and
// tells whether there was one.
func (a *Agent) answerWaiter(payload []byte) bool {
	var doc struct {
		ClientToken string `json:"clientToken"`
	}
	if json.Unmarshal(payload, &doc) != nil || !strings.HasPrefix(doc.ClientToken, localToken) {
		return false
	}
	a.waitMu.Lock()
	ch := a.waiters[doc.ClientToken]
	a.waitMu.Unlock()
	if ch != nil {
		select {
		case ch <- slices.Clone(payload):
		default:
		}
	}
	return true
}

// localToken starts the clientToken of a local Get, so its answer never reaches the agent.
const localToken = "thingd-local-"

// Connected tells the agent a connection is up with its subscriptions in place (the
// session's EventSubscribed). It never blocks.
func (a *Agent) Connected() { a.setLink(true) }

// Disconnected tells the agent the connection ended: nothing is sent until the next
// Connected. It never blocks.
func (a *Agent) Disconnected() { a.setLink(false) }

func (a *Agent) setLink(up bool) {
	a.linkMu.Lock()
	a.linkUp = up
	if up {
		a.linkSeq++
	}
	a.linkMu.Unlock()
	select {
	case a.link <- struct{}{}:
	default:
	}
}

// Effective is the file's config with the accepted settings applied (locked or no longer
// valid ones skipped).
func (a *Agent) Effective() *config.Config {
	eff := a.o.Base()
	for _, k := range sortedKeys(a.accepted) {
		next, err := eff.WithSetting(k, a.accepted[k])
		if err != nil {
			a.refused[k] = shorten(err.Error())
			continue
		}
		eff = next
	}
	return eff
}

// Run works until ctx ends.
func (a *Agent) Run(ctx context.Context) {
	tick := time.NewTicker(a.o.Settle)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.link:
			a.linkMu.Lock()
			up, seq := a.linkUp, a.linkSeq
			a.linkMu.Unlock()
			switch {
			case up && seq != a.handled:
				a.handled = seq
				a.online, a.confirmed, a.pending = false, nil, nil
				a.get(ctx)
			case !up:
				a.online, a.getToken = false, ""
			}
		case m := <-a.in:
			a.receive(ctx, m)
		case <-tick.C:
			now := time.Now()
			if !a.online && a.getToken != "" && now.Sub(a.getAt) > a.o.Timeout {
				a.get(ctx)
			}
			if a.pending != nil && now.Sub(a.pending.at) > a.o.Timeout {
				a.pending = nil
			}
			a.maybeUpdate(ctx, now)
		}
		a.snapshot()
	}
}

// snapshot refreshes the copy State returns.
func (a *Agent) snapshot() {
	st := status.Shadow{Topic: a.base, InSync: a.online, Version: a.version, Updates: a.updates,
		LastUpdate: status.TimePtr(a.lastUpdate), LastRejected: a.lastRejected}
	if len(a.accepted) > 0 {
		st.Settings = make(map[string]any, len(a.accepted))
		for k, v := range a.accepted {
			if _, bad := a.refused[k]; !bad {
				st.Settings[k] = v
			}
		}
	}
	if len(a.refused) > 0 {
		st.Refused = make(map[string]string, len(a.refused))
		for k, v := range a.refused {
			st.Refused[k] = v
		}
	}
	a.stateMu.Lock()
	a.state = st
	a.stateMu.Unlock()
}

// State is the agent's state for thingd status; safe from any goroutine.
func (a *Agent) State() status.Shadow {
	a.stateMu.Lock()
	defer a.stateMu.Unlock()
	return a.state
}

func (a *Agent) token(kind string) string {
	a.seq++
	return "thingd-" + kind + "-" + strconv.Itoa(a.seq)
}

func (a *Agent) get(ctx context.Context) {
	a.getToken, a.getAt = a.token("get"), time.Now()
	payload, _ := json.Marshal(map[string]string{"clientToken": a.getToken})
	if err := a.o.Publish(ctx, a.base+"/get", payload); err != nil {
		a.log.Debug("shadow get not sent; asking again later", zap.Error(err))
	}
}

// answer is the union of the answer documents' fields the agent reads.
type answer struct {
	State struct {
		Desired  map[string]any `json:"desired"`
		Reported map[string]any `json:"reported"`
	} `json:"state"`
	Version     int    `json:"version"`
	ClientToken string `json:"clientToken"`
	Code        int    `json:"code"`
	Message     string `json:"message"`
}

// deltaDoc is /update/delta: state holds the differing desired attributes themselves.
type deltaDoc struct {
	State   map[string]any `json:"state"`
	Version int            `json:"version"`
}

func (a *Agent) receive(ctx context.Context, m message) {
	op := strings.TrimPrefix(m.topic, a.base+"/")
	if op == "update/delta" {
		var d deltaDoc
		if err := json.Unmarshal(m.payload, &d); err != nil {
			a.log.Warn("shadow delta is not JSON; ignored", zap.Error(err))
			return
		}
		a.seen(d.Version)
		if sub, ok := d.State[Key].(map[string]any); ok {
			a.desired(sub, false)
		}
		return
	}
	var doc answer
	if err := json.Unmarshal(m.payload, &doc); err != nil {
		a.log.Warn("shadow answer is not JSON; ignored", zap.String("topic", m.topic), zap.Error(err))
		return
	}
	switch op {
	case "get/accepted":
		a.seen(doc.Version)
		a.version = doc.Version
		rep, _ := doc.State.Reported[Key].(map[string]any)
		des, _ := doc.State.Desired[Key].(map[string]any)
		a.online, a.confirmed, a.getToken = true, rep, ""
		if a.confirmed == nil {
			a.confirmed = map[string]any{}
		}
		a.desired(des, true)
	case "get/rejected":
		if doc.ClientToken != a.getToken {
			return
		}
		if doc.Code == 404 { // no shadow yet: the first update creates it
			a.online, a.confirmed, a.getToken, a.version = true, map[string]any{}, "", 0
			a.desired(nil, true)
			return
		}
		a.log.Warn("shadow get rejected; asking again later", zap.Int("code", doc.Code), zap.String("message", doc.Message))
		a.getAt = time.Now()
	case "update/accepted":
		a.seen(doc.Version)
		if a.pending != nil && doc.ClientToken == a.pending.token {
			merge(a.confirmed, a.pending.diff)
			a.pending = nil
			a.updates++
			a.lastUpdate = time.Now()
		}
	case "update/rejected":
		if a.pending == nil || doc.ClientToken != a.pending.token {
			return
		}
		a.pending = nil
		a.lastRejected = fmt.Sprintf("%d %s", doc.Code, doc.Message)
		if doc.Code == 409 {
			// Someone else updated the shadow: read it again, then send what still differs.
			a.log.Debug("shadow version conflict; reading the shadow again", zap.Int("version", a.version))
			a.online = false
			a.get(ctx)
			return
		}
		a.log.Error("shadow update rejected; not sending status again for one interval",
			zap.Int("code", doc.Code), zap.String("message", doc.Message), zap.String("shadow", a.base))
		a.holdUntil = time.Now().Add(a.o.Interval)
	}
}

func (a *Agent) seen(v int) {
	if v > a.version {
		a.version = v
	}
}

// desired takes the thingd part of the desired state: all of it (full, from a get) or the
// attributes that differ from reported (a delta). Each setting is checked on its own
// against the file plus the other accepted settings; a refused one keeps the value in
// effect and its reason goes to reported.thingd.refused.
func (a *Agent) desired(d map[string]any, full bool) {
	want := flatten(d)
	changed := false
	if full {
		for k := range a.accepted {
			if _, ok := want[k]; !ok {
				delete(a.accepted, k) // removed from desired: the file's value again
				changed = true
			}
		}
		for k := range a.refused {
			if _, ok := want[k]; !ok {
				delete(a.refused, k)
			}
		}
	}
	for _, k := range sortedKeys(want) {
		v := want[k]
		if cur, ok := a.accepted[k]; ok && reflect.DeepEqual(cur, v) {
			delete(a.refused, k)
			continue
		}
		others := make(map[string]any, len(a.accepted))
		for ok, ov := range a.accepted {
			if ok != k {
				others[ok] = ov
			}
		}
		base := (&Agent{o: a.o, accepted: others, refused: map[string]string{}}).Effective()
		if _, err := base.WithSetting(k, v); err != nil {
			a.refused[k] = shorten(fmt.Sprintf("%s (desired %s)", err, compact(v)))
			a.log.Warn("desired setting refused", zap.String("setting", k), zap.Any("value", v), zap.Error(err))
			continue
		}
		delete(a.refused, k)
		a.accepted[k] = v
		changed = true
		a.log.Info("desired setting accepted", zap.String("setting", k), zap.Any("value", v))
	}
	if !changed {
		return
	}
	if err := a.save(); err != nil {
		a.log.Error("cannot keep the accepted shadow settings; they apply until the next restart", zap.Error(err))
	}
	a.o.Apply(a.Effective())
}

// flatten turns {"log":{"level":"debug"}} into {"log.level":"debug"}.
func flatten(m map[string]any) map[string]any {
	out := map[string]any{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok {
				walk(prefix+k+".", sub)
				continue
			}
			out[prefix+k] = v
		}
	}
	walk("", m)
	return out
}

// reported is reported.thingd as it should be now: the status, every setting in effect
// (the desired form of an accepted one, so the delta clears) and the refusals.
func (a *Agent) reported() map[string]any {
	rep := a.o.Status()
	if rep == nil {
		rep = map[string]any{}
	}
	eff := a.Effective()
	for _, k := range config.Settings {
		v, ok := a.accepted[k]
		if _, bad := a.refused[k]; !ok || bad {
			v, ok = eff.SettingValue(k)
		}
		if ok {
			setPath(rep, k, v)
		}
	}
	if len(a.refused) > 0 {
		ref := map[string]any{}
		for _, k := range sortedKeys(a.refused)[:min(len(a.refused), MaxRefused)] {
			setPath(ref, k, a.refused[k])
		}
		rep[settingsRefused] = ref
	}
	return normalize(rep)
}

func setPath(m map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		sub, ok := m[p].(map[string]any)
		if !ok {
			sub = map[string]any{}
			m[p] = sub
		}
		m = sub
	}
	m[parts[len(parts)-1]] = v
}

// settingsOnly tells whether a diff touches only settings and refusals, which go out
// without waiting for the status interval.
func settingsOnly(diff map[string]any) bool {
	for k := range diff {
		if k == settingsRefused {
			continue
		}
		isSetting := false
		for _, s := range config.Settings {
			if strings.HasPrefix(s, k+".") {
				isSetting = true
			}
		}
		if !isSetting {
			return false
		}
	}
	return true
}

func (a *Agent) maybeUpdate(ctx context.Context, now time.Time) {
	if !a.online || a.pending != nil || now.Sub(a.lastAny) < a.o.Settle {
		return
	}
	diff := changes(a.confirmed, a.reported())
	if len(diff) == 0 {
		return
	}
	urgent := settingsOnly(diff)
	if !urgent && (now.Sub(a.lastStat) < a.o.Interval || now.Before(a.holdUntil)) {
		if !hasSettings(diff) {
			return
		}
		diff = onlySettings(diff) // the status waits for its interval
	}
	req := map[string]any{"state": map[string]any{"reported": map[string]any{Key: diff}}, "clientToken": a.token("update")}
	if a.version > 0 {
		req["version"] = a.version
	}
	payload, err := json.Marshal(req)
	if err != nil {
		a.log.Error("encode shadow update", zap.Error(err))
		return
	}
	if len(payload) > maxUpdateBytes {
		a.log.Error("shadow update too large; not sent", zap.Int("bytes", len(payload)), zap.Int("limit", maxUpdateBytes))
		a.holdUntil = now.Add(a.o.Interval)
		return
	}
	if err := a.o.Publish(ctx, a.base+"/update", payload); err != nil {
		a.log.Debug("shadow update not sent; trying again later", zap.Error(err))
		return
	}
	a.pending = &update{token: req["clientToken"].(string), diff: diff, at: now}
	a.lastAny = now
	if !settingsOnly(diff) {
		a.lastStat = now
	}
}

func hasSettings(diff map[string]any) bool { return len(onlySettings(diff)) > 0 }

func onlySettings(diff map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range diff {
		if settingsOnly(map[string]any{k: v}) {
			out[k] = v
		}
	}
	return out
}

// changes is what turns old into new under AWS's merge: changed values, and null for
// attributes new no longer has.
func changes(old, new map[string]any) map[string]any {
	out := map[string]any{}
	for k, nv := range new {
		ov, had := old[k]
		nm, nIsObj := nv.(map[string]any)
		om, oIsObj := ov.(map[string]any)
		switch {
		case nIsObj && oIsObj:
			if sub := changes(om, nm); len(sub) > 0 {
				out[k] = sub
			}
		case !had || !reflect.DeepEqual(ov, nv):
			out[k] = nv
		}
	}
	for k := range old {
		if _, ok := new[k]; !ok {
			out[k] = nil
		}
	}
	return out
}

// merge applies an accepted diff to what the shadow holds, as AWS does.
func merge(dst, diff map[string]any) {
	for k, v := range diff {
		switch dv := v.(type) {
		case nil:
			delete(dst, k)
		case map[string]any:
			sub, ok := dst[k].(map[string]any)
			if !ok {
				sub = map[string]any{}
				dst[k] = sub
			}
			merge(sub, dv)
			if len(sub) == 0 {
				delete(dst, k)
			}
		default:
			dst[k] = v
		}
	}
}

// normalize gives values the types encoding/json decodes (float64, map[string]any), so
// what the agent builds compares equal to what it reads back.
func normalize(m map[string]any) map[string]any {
	b, err := json.Marshal(m)
	if err != nil {
		return map[string]any{}
	}
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func shorten(s string) string {
	if len(s) <= MaxReason {
		return s
	}
	return s[:MaxReason-3] + "..."
}

func compact(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// savedState is StateFile's content.
type savedState struct {
	Accepted map[string]any `json:"accepted"`
}

func (a *Agent) load() error {
	if a.o.StateFile == "" {
		return nil
	}
	b, err := os.ReadFile(a.o.StateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", a.o.StateFile, err)
	}
	var s savedState
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%s is damaged (%w); delete it to start from the config file", a.o.StateFile, err)
	}
	for k, v := range s.Accepted {
		a.accepted[k] = v
	}
	return nil
}

func (a *Agent) save() error {
	if a.o.StateFile == "" {
		return nil
	}
	b, err := json.MarshalIndent(savedState{Accepted: a.accepted}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(a.o.StateFile, append(b, '\n'), 0o600)
}
