package awsiot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"
)

// Device Shadow service limits (AWS General Reference, "AWS IoT Device Shadow service
// quotas"; Developer Guide, "Device Shadow service documents").
const (
	// MaxShadowSize is the most bytes of the state document (desired and reported, without
	// metadata) a shadow keeps; an update that would exceed it is rejected with 413.
	MaxShadowSize = 8 * 1024
	// MaxShadowDepth is the most levels of nesting under desired or reported.
	MaxShadowDepth = 6
	// MaxClientToken is the most bytes of a clientToken.
	MaxClientToken = 64
)

const shadowPrefix = "$aws/things/"

// Shadow is the Device Shadow service over MQTT (Developer Guide, "Device Shadow MQTT
// topics", "Device Shadow service documents"): classic shadows on
// $aws/things/<thing>/shadow/{update,get,delete} and named shadows on
// $aws/things/<thing>/shadow/name/<name>/{update,get,delete}. Answers go to the request
// topic plus /accepted or /rejected; an accepted update also publishes /documents (previous
// and current) and, when the update touched desired and desired then differs from reported,
// /delta with every differing desired attribute. Versions start at 1 and grow by one per
// accepted update (a delete keeps the counter, as AWS does); an update carrying "version"
// other than the current one is rejected with 409. A null attribute deletes it, a null
// desired or reported deletes the section. Metadata holds a timestamp (epoch seconds) per
// leaf. An update leaving more than MaxShadowSize bytes of state is rejected with 413.
// Requests are also delivered to subscribers of the request topic, as AWS does.
//
// Simplifications: no persistent-session queueing of answers beyond what the broker does,
// and "timestamp" has a one-second resolution like AWS's.
type Shadow struct {
	mu       sync.Mutex
	shadows  map[shadowKey]*shadowDoc
	versions map[shadowKey]int // survives delete
	now      func() time.Time
}

type shadowKey struct{ thing, name string }

type shadowDoc struct {
	desired, reported map[string]any
	mdDesired, mdRep  map[string]any
	version           int
}

// NewShadow returns an empty Device Shadow service for Options.Services.
func NewShadow() *Shadow {
	return &Shadow{shadows: map[shadowKey]*shadowDoc{}, versions: map[shadowKey]int{}, now: time.Now}
}

// shadowTopic splits a shadow request topic: $aws/things/<thing>/shadow[/name/<n>]/<op>.
// base is the topic without the op. ok is false for anything else, answers included.
func shadowTopic(topic string) (k shadowKey, base, op string, ok bool) {
	rest, found := strings.CutPrefix(topic, shadowPrefix)
	if !found {
		return k, "", "", false
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 3 && parts[1] == "shadow":
		k, op = shadowKey{thing: parts[0]}, parts[2]
	case len(parts) == 5 && parts[1] == "shadow" && parts[2] == "name" && parts[3] != "":
		k, op = shadowKey{thing: parts[0], name: parts[3]}, parts[4]
	default:
		return k, "", "", false
	}
	if k.thing == "" || (op != "update" && op != "get" && op != "delete") {
		return k, "", "", false
	}
	return k, strings.TrimSuffix(topic, "/"+op), op, true
}

// Handles implements Service: the update, get and delete request topics.
func (s *Shadow) Handles(topic string) bool {
	_, _, _, ok := shadowTopic(topic)
	return ok
}

// Handle implements Service.
func (s *Shadow) Handle(_, topic string, payload []byte) ([]Message, bool) {
	k, base, op, _ := shadowTopic(topic)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch op {
	case "update":
		return s.update(k, base, payload), true
	case "get":
		return s.get(k, base, payload), true
	default:
		return s.delete(k, base, payload), true
	}
}

// request is the part of a request document the service reads.
type request struct {
	State       json.RawMessage `json:"state"`
	ClientToken *string         `json:"clientToken"`
	Version     *int            `json:"version"`
}

func reply(topic string, v any) Message {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps, strings and numbers: cannot fail
	}
	return Message{Topic: topic, Payload: b, QoS: 1}
}

// rejected is an error response document (Developer Guide, "Error response document").
func (s *Shadow) rejected(base, op string, code int, msg string, token *string) []Message {
	doc := map[string]any{"code": code, "message": msg, "timestamp": s.now().Unix()}
	if token != nil {
		doc["clientToken"] = *token
	}
	return []Message{reply(base+"/"+op+"/rejected", doc)}
}

// parseRequest reads a request document; an empty payload is an empty request (get and
// delete take one).
func (s *Shadow) parseRequest(base, op string, payload []byte) (request, []Message) {
	var r request
	if len(bytes.TrimSpace(payload)) == 0 {
		return r, nil
	}
	if err := json.Unmarshal(payload, &r); err != nil {
		return r, s.rejected(base, op, 400, "Invalid JSON", nil)
	}
	if r.ClientToken != nil && len(*r.ClientToken) > MaxClientToken {
		return r, s.rejected(base, op, 400, "ClientToken is too long", nil)
	}
	return r, nil
}

func (s *Shadow) update(k shadowKey, base string, payload []byte) []Message {
	r, bad := s.parseRequest(base, "update", payload)
	if bad != nil {
		return bad
	}
	if len(r.State) == 0 || string(r.State) == "null" {
		return s.rejected(base, "update", 400, "Missing required node: state", r.ClientToken)
	}
	var state map[string]json.RawMessage
	if err := json.Unmarshal(r.State, &state); err != nil {
		return s.rejected(base, "update", 400, "State node must be an object", r.ClientToken)
	}
	var desired, reported map[string]any
	var hasDesired, hasReported bool
	for name, raw := range state {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return s.rejected(base, "update", 400, "Invalid JSON", r.ClientToken)
		}
		m, isObj := v.(map[string]any)
		if v != nil && !isObj {
			return s.rejected(base, "update", 400, fmt.Sprintf("Invalid %s node: must be an object or null", name), r.ClientToken)
		}
		if depth(m) > MaxShadowDepth {
			return s.rejected(base, "update", 400, fmt.Sprintf("JSON contains too many levels of nesting; maximum is %d", MaxShadowDepth), r.ClientToken)
		}
		switch name {
		case "desired":
			desired, hasDesired = m, true
		case "reported":
			reported, hasReported = m, true
		}
		// Anything else under state is ignored, as AWS does.
	}
	cur := s.shadows[k]
	version := s.versions[k]
	if r.Version != nil && *r.Version != version {
		return s.rejected(base, "update", 409, "Version conflict", r.ClientToken)
	}
	next := &shadowDoc{}
	if cur != nil {
		next = cur.clone()
	}
	ts := s.now().Unix()
	if hasDesired {
		next.desired, next.mdDesired = mergeSection(next.desired, next.mdDesired, desired, ts)
	}
	if hasReported {
		next.reported, next.mdRep = mergeSection(next.reported, next.mdRep, reported, ts)
	}
	if n := next.stateSize(); n > MaxShadowSize {
		return s.rejected(base, "update", 413, "The payload exceeds the maximum size allowed", r.ClientToken)
	}
	next.version = version + 1
	s.versions[k] = next.version
	s.shadows[k] = next

	// /accepted echoes the state of the request with its metadata.
	accState, accMeta := map[string]any{}, map[string]any{}
	if hasDesired {
		accState["desired"] = nilIfNil(desired)
		accMeta["desired"] = stamp(desired, ts)
	}
	if hasReported {
		accState["reported"] = nilIfNil(reported)
		accMeta["reported"] = stamp(reported, ts)
	}
	acc := map[string]any{"state": accState, "metadata": accMeta, "version": next.version, "timestamp": ts}
	docs := map[string]any{"previous": cur.full(version), "current": next.full(next.version), "timestamp": ts}
	if cur == nil {
		docs["previous"] = nil
	}
	if r.ClientToken != nil {
		acc["clientToken"] = *r.ClientToken
		docs["clientToken"] = *r.ClientToken
	}
	out := []Message{reply(base+"/update/accepted", acc), reply(base+"/update/documents", docs)}
	if hasDesired {
		if d := delta(next.desired, next.reported); len(d) > 0 {
			dm := map[string]any{"version": next.version, "timestamp": ts, "state": d, "metadata": pick(next.mdDesired, d)}
			if r.ClientToken != nil {
				dm["clientToken"] = *r.ClientToken
			}
			out = append(out, reply(base+"/update/delta", dm))
		}
	}
	return out
}

func (s *Shadow) get(k shadowKey, base string, payload []byte) []Message {
	r, bad := s.parseRequest(base, "get", payload)
	if bad != nil {
		return bad
	}
	cur := s.shadows[k]
	if cur == nil {
		return s.rejected(base, "get", 404, fmt.Sprintf("No shadow exists with name: '%s'", k.display()), r.ClientToken)
	}
	doc := cur.full(cur.version)
	if d := delta(cur.desired, cur.reported); len(d) > 0 {
		doc["state"].(map[string]any)["delta"] = d
	}
	doc["timestamp"] = s.now().Unix()
	if r.ClientToken != nil {
		doc["clientToken"] = *r.ClientToken
	}
	return []Message{reply(base+"/get/accepted", doc)}
}

func (s *Shadow) delete(k shadowKey, base string, payload []byte) []Message {
	r, bad := s.parseRequest(base, "delete", payload)
	if bad != nil {
		return bad
	}
	cur := s.shadows[k]
	if cur == nil {
		return s.rejected(base, "delete", 404, fmt.Sprintf("No shadow exists with name: '%s'", k.display()), r.ClientToken)
	}
	if r.Version != nil && *r.Version != cur.version {
		return s.rejected(base, "delete", 409, "Version conflict", r.ClientToken)
	}
	delete(s.shadows, k)
	doc := map[string]any{"version": cur.version, "timestamp": s.now().Unix()}
	if r.ClientToken != nil {
		doc["clientToken"] = *r.ClientToken
	}
	return []Message{reply(base+"/delete/accepted", doc)}
}

func (k shadowKey) display() string {
	if k.name == "" {
		return k.thing
	}
	return k.name
}

func (d *shadowDoc) clone() *shadowDoc {
	return &shadowDoc{
		desired: deepCopy(d.desired), reported: deepCopy(d.reported),
		mdDesired: deepCopy(d.mdDesired), mdRep: deepCopy(d.mdRep), version: d.version,
	}
}

// full is the document as get/accepted and /documents show it.
func (d *shadowDoc) full(version int) map[string]any {
	if d == nil {
		return nil
	}
	state, md := map[string]any{}, map[string]any{}
	if d.desired != nil {
		state["desired"], md["desired"] = deepCopy(d.desired), deepCopy(d.mdDesired)
	}
	if d.reported != nil {
		state["reported"], md["reported"] = deepCopy(d.reported), deepCopy(d.mdRep)
	}
	return map[string]any{"state": state, "metadata": md, "version": version}
}

// stateSize is what counts toward MaxShadowSize: the desired and reported sections.
func (d *shadowDoc) stateSize() int {
	st := map[string]any{}
	if d.desired != nil {
		st["desired"] = d.desired
	}
	if d.reported != nil {
		st["reported"] = d.reported
	}
	b, _ := json.Marshal(st)
	return len(b)
}

// mergeSection applies one section of an update: null deletes the section, a null leaf
// deletes the attribute, objects merge recursively, anything else (arrays too) replaces.
// An emptied section disappears.
func mergeSection(cur, md, patch map[string]any, ts int64) (map[string]any, map[string]any) {
	if patch == nil {
		return nil, nil
	}
	if cur == nil {
		cur, md = map[string]any{}, map[string]any{}
	}
	merge(cur, md, patch, ts)
	if len(cur) == 0 {
		return nil, nil
	}
	return cur, md
}

func merge(cur, md, patch map[string]any, ts int64) {
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(cur, k)
			delete(md, k)
		case map[string]any:
			sub, ok := cur[k].(map[string]any)
			subMD, _ := md[k].(map[string]any)
			if !ok {
				sub, subMD = map[string]any{}, map[string]any{}
			}
			if subMD == nil {
				subMD = map[string]any{}
			}
			merge(sub, subMD, pv, ts)
			if len(sub) == 0 {
				delete(cur, k)
				delete(md, k)
			} else {
				cur[k], md[k] = sub, subMD
			}
		default:
			cur[k], md[k] = deepCopy(v), stampValue(v, ts)
		}
	}
}

// stamp is the metadata of a request section: a timestamp per leaf (null leaves too,
// as AWS reports the deletion time).
func stamp(m map[string]any, ts int64) any {
	if m == nil {
		return nil
	}
	out := map[string]any{}
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			out[k] = stamp(sub, ts)
		} else {
			out[k] = stampValue(v, ts)
		}
	}
	return out
}

func stampValue(v any, ts int64) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = map[string]any{"timestamp": ts}
		}
		return out
	case map[string]any:
		return stamp(x, ts)
	}
	return map[string]any{"timestamp": ts}
}

// delta is every desired attribute whose value differs from reported (recursively for
// objects; arrays compare whole).
func delta(desired, reported map[string]any) map[string]any {
	out := map[string]any{}
	for k, dv := range desired {
		rv, ok := reported[k]
		dm, dIsObj := dv.(map[string]any)
		rm, rIsObj := rv.(map[string]any)
		switch {
		case dIsObj && rIsObj:
			if sub := delta(dm, rm); len(sub) > 0 {
				out[k] = sub
			}
		case !ok || !reflect.DeepEqual(dv, rv):
			out[k] = deepCopy(dv)
		}
	}
	return out
}

// pick is the part of metadata md that covers the keys of d.
func pick(md map[string]any, d map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range d {
		sub, isObj := v.(map[string]any)
		mdSub, mdIsObj := md[k].(map[string]any)
		if isObj && mdIsObj {
			if _, leaf := mdSub["timestamp"]; !leaf {
				out[k] = pick(mdSub, sub)
				continue
			}
		}
		out[k] = md[k]
	}
	return out
}

func depth(m map[string]any) int {
	if m == nil {
		return 0
	}
	most := 0
	for _, v := range m {
		if sub, ok := v.(map[string]any); ok {
			most = max(most, depth(sub))
		}
	}
	return most + 1
}

func nilIfNil(m map[string]any) any {
	if m == nil {
		return nil
	}
	return m
}

func deepCopy[T any](v T) T {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

// Publisher is what SetDesired sends the service's answers through (*Broker is one).
type Publisher interface {
	Publish(topic string, payload []byte, qos byte) error
}

// SetDesired updates the desired state of thing's shadow (name "" for the classic one) as
// the console or an application would through UpdateThingShadow: the answers (accepted,
// documents, delta) are published through pub. desired is merged like any update (nil
// values delete). It returns the new version.
func (s *Shadow) SetDesired(pub Publisher, thing, name string, desired map[string]any) (int, error) {
	return s.cloudUpdate(pub, thing, name, map[string]any{"desired": desired})
}

// SetReported is SetDesired for the reported section.
func (s *Shadow) SetReported(pub Publisher, thing, name string, reported map[string]any) (int, error) {
	return s.cloudUpdate(pub, thing, name, map[string]any{"reported": reported})
}

func (s *Shadow) cloudUpdate(pub Publisher, thing, name string, state map[string]any) (int, error) {
	base := shadowPrefix + thing + "/shadow"
	if name != "" {
		base += "/name/" + name
	}
	payload, err := json.Marshal(map[string]any{"state": state})
	if err != nil {
		return 0, fmt.Errorf("awsiot: shadow update: %w", err)
	}
	s.mu.Lock()
	out := s.update(shadowKey{thing, name}, base, payload)
	version := s.versions[shadowKey{thing, name}]
	s.mu.Unlock()
	if len(out) == 1 { // rejected
		return 0, fmt.Errorf("awsiot: shadow update of %s refused: %s", base, out[0].Payload)
	}
	for _, m := range out {
		if err := pub.Publish(m.Topic, m.Payload, m.QoS); err != nil {
			return 0, err
		}
	}
	return version, nil
}

// ShadowDocument is a shadow as the service keeps it.
type ShadowDocument struct {
	Desired  map[string]any
	Reported map[string]any
	Version  int
}

// Document returns thing's shadow (name "" for the classic one) and whether it exists.
func (s *Shadow) Document(thing, name string) (ShadowDocument, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.shadows[shadowKey{thing, name}]
	if d == nil {
		return ShadowDocument{}, false
	}
	return ShadowDocument{Desired: deepCopy(d.desired), Reported: deepCopy(d.reported), Version: d.version}, true
}

// Names lists the thing's named shadows that exist, sorted.
func (s *Shadow) Names(thing string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.shadows {
		if k.thing == thing && k.name != "" {
			out = append(out, k.name)
		}
	}
	sort.Strings(out)
	return out
}
