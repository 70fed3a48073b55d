package awsiot_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"thingd/internal/testbed/awsiot"
)

// shadowWorld is a broker with the shadow service and a device client subscribed to every
// answer of thing "pi"'s shadows.
func shadowWorld(t *testing.T) (*world, *awsiot.Shadow, *client, *answers) {
	t.Helper()
	sh := awsiot.NewShadow()
	w := start(t, awsiot.Options{Services: []awsiot.Service{sh}})
	c := w.mustDial(t, "pi")
	rec, err := w.b.Subscribe("$aws/things/pi/shadow/#")
	if err != nil {
		t.Fatal(err)
	}
	return w, sh, c, &answers{rec: rec, read: map[string]int{}}
}

func pub(t *testing.T, c *client, topic, payload string) {
	t.Helper()
	if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// answers reads a recorder topic by topic, each message once.
type answers struct {
	rec  *awsiot.Recorder
	read map[string]int
}

// next waits for the next unread message on topic.
func (a *answers) next(t *testing.T, topic string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		n := 0
		for _, m := range a.rec.Messages() {
			if m.Topic != topic {
				continue
			}
			if n++; n > a.read[topic] {
				a.read[topic] = n
				var v map[string]any
				if err := json.Unmarshal(m.Payload, &v); err != nil {
					t.Fatalf("%s: %v: %s", topic, err, m.Payload)
				}
				return v
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("nothing on %s; got %v", topic, topics(a.rec))
	return nil
}

func topics(rec *awsiot.Recorder) []string {
	var out []string
	for _, m := range rec.Messages() {
		out = append(out, m.Topic+" "+string(m.Payload))
	}
	return out
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestShadowUpdateGetDeltaAndVersions(t *testing.T) {
	w, sh, c, rec := shadowWorld(t)
	const base = "$aws/things/pi/shadow"
	pub(t, c, base+"/get", "")
	if r := rec.next(t, base+"/get/rejected"); r["code"] != 404.0 || !strings.Contains(r["message"].(string), "No shadow exists") {
		t.Fatalf("get of a missing shadow: %v", r)
	}

	pub(t, c, base+"/update", `{"state":{"reported":{"color":"red","sub":{"a":1}}},"clientToken":"t1"}`)
	acc := rec.next(t, base+"/update/accepted")
	if acc["version"] != 1.0 || acc["clientToken"] != "t1" || js(acc["state"]) != `{"reported":{"color":"red","sub":{"a":1}}}` {
		t.Fatalf("accepted %v", acc)
	}
	if md := js(acc["metadata"]); !strings.Contains(md, `"color":{"timestamp":`) || !strings.Contains(md, `"sub":{"a":{"timestamp":`) {
		t.Fatalf("metadata %s", md)
	}
	docs := rec.next(t, base+"/update/documents")
	if docs["previous"] != nil || js(docs["current"].(map[string]any)["state"]) != `{"reported":{"color":"red","sub":{"a":1}}}` {
		t.Fatalf("documents %v", docs)
	}

	// Desired differs: a delta with only the differing attributes.
	if _, err := sh.SetDesired(w.b, "pi", "", map[string]any{"color": "green", "sub": map[string]any{"a": 1}}); err != nil {
		t.Fatal(err)
	}
	if acc := rec.next(t, base+"/update/accepted"); acc["version"] != 2.0 {
		t.Fatalf("desired accepted %v", acc)
	}
	d := rec.next(t, base+"/update/delta")
	if d["version"] != 2.0 || js(d["state"]) != `{"color":"green"}` || !strings.Contains(js(d["metadata"]), `"color":{"timestamp":`) {
		t.Fatalf("delta %v", d)
	}
	pub(t, c, base+"/get", `{"clientToken":"g"}`)
	g := rec.next(t, base+"/get/accepted")
	if g["version"] != 2.0 || g["clientToken"] != "g" || js(g["state"].(map[string]any)["delta"]) != `{"color":"green"}` {
		t.Fatalf("get %v", g)
	}

	// Stale version: 409, nothing changes.
	pub(t, c, base+"/update", `{"state":{"reported":{"color":"green"}},"version":1,"clientToken":"t2"}`)
	if r := rec.next(t, base+"/update/rejected"); r["code"] != 409.0 || r["message"] != "Version conflict" || r["clientToken"] != "t2" {
		t.Fatalf("rejected %v", r)
	}
	// Right version; null deletes an attribute; the delta is gone.
	pub(t, c, base+"/update", `{"state":{"reported":{"color":"green","sub":null}},"version":2}`)
	if acc := rec.next(t, base+"/update/accepted"); acc["version"] != 3.0 {
		t.Fatalf("accepted %v", acc)
	}
	doc, ok := sh.Document("pi", "")
	if !ok || doc.Version != 3 || js(doc.Reported) != `{"color":"green"}` || js(doc.Desired) != `{"color":"green","sub":{"a":1}}` {
		t.Fatalf("document %+v", doc)
	}
	pub(t, c, base+"/get", "")
	// sub.a is desired but no longer reported: the delta keeps it.
	if g := rec.next(t, base+"/get/accepted"); js(g["state"].(map[string]any)["delta"]) != `{"sub":{"a":1}}` {
		t.Fatalf("get %v", g)
	}

	pub(t, c, base+"/delete", "")
	if del := rec.next(t, base+"/delete/accepted"); del["version"] != 3.0 {
		t.Fatalf("delete %v", del)
	}
	if _, ok := sh.Document("pi", ""); ok {
		t.Fatal("the shadow outlived its delete")
	}
	pub(t, c, base+"/delete", "")
	if r := rec.next(t, base+"/delete/rejected"); r["code"] != 404.0 {
		t.Fatalf("second delete %v", r)
	}
	// A delete keeps the version counter.
	pub(t, c, base+"/update", `{"state":{"reported":{"x":1}}}`)
	if acc := rec.next(t, base+"/update/accepted"); acc["version"] != 4.0 {
		t.Fatalf("after delete %v", acc)
	}
}

func TestShadowNamedSizeAndBadRequests(t *testing.T) {
	w, sh, c, rec := shadowWorld(t)
	const base = "$aws/things/pi/shadow/name/cfg"
	pub(t, c, base+"/update", `{"state":{"reported":{"on":true}}}`)
	if acc := rec.next(t, base+"/update/accepted"); acc["version"] != 1.0 {
		t.Fatalf("named accepted %v", acc)
	}
	if _, ok := sh.Document("pi", ""); ok {
		t.Fatal("a named update created the classic shadow")
	}
	if n := sh.Names("pi"); len(n) != 1 || n[0] != "cfg" {
		t.Fatalf("names %v", n)
	}
	big := strings.Repeat("x", awsiot.MaxShadowSize)
	pub(t, c, base+"/update", `{"state":{"reported":{"big":"`+big+`"}}}`)
	if r := rec.next(t, base+"/update/rejected"); r["code"] != 413.0 {
		t.Fatalf("oversize %v", r)
	}
	for payload, code := range map[string]float64{
		`not json`:                    400,
		`{"clientToken":"x"}`:         400,
		`{"state":{"reported":[1]}}`:  400,
		`{"state":{"desired":"red"}}`: 400,
		`{"state":{"reported":{"a":{"b":{"c":{"d":{"e":{"f":{"g":1}}}}}}}}}`: 400,
	} {
		pub(t, c, base+"/update", payload)
		if r := rec.next(t, base+"/update/rejected"); r["code"] != code {
			t.Fatalf("%s: %v", payload, r)
		}
	}
	if doc, _ := sh.Document("pi", "cfg"); doc.Version != 1 {
		t.Fatalf("a rejected update changed the shadow: %+v", doc)
	}
	// Answers are not requests: a device echoing accepted is not taken as an update.
	pub(t, c, base+"/update/accepted", `{"state":{"reported":{"on":false}}}`)
	pub(t, c, base+"/get", "")
	if g := rec.next(t, base+"/get/accepted"); g["version"] != 1.0 {
		t.Fatalf("get %v", g)
	}
	_ = w
}
