package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"thingd/internal/testbed/awsiot"
)

// shadowPolicy is the IoT policy a fleet would give thingd for its shadows and telemetry.
var shadowPolicy = &awsiot.Policy{
	Connect:   []string{"thingd-test"},
	Publish:   []string{"$aws/things/pi/shadow/#", "dt/pi/#"},
	Subscribe: []string{"$aws/things/pi/shadow/#", "cmd/pi/#"},
	Receive:   []string{"$aws/things/pi/shadow/#", "cmd/pi/#"},
}

// newShadowWorld is newAWSWorld with the shadow service and [shadow] enabled.
func newShadowWorld(t *testing.T, extra string) (*world, *awsiot.Broker, *awsiot.Shadow) {
	t.Helper()
	sh := awsiot.NewShadow()
	w, b := newAWSWorld(t, awsiot.Options{Policy: shadowPolicy, Services: []awsiot.Service{sh}}, extra)
	return w, b, sh
}

// waitShadow polls the shadow's thingd part until cond holds (a failure guard).
func waitShadow(t *testing.T, sh *awsiot.Shadow, name, what string, cond func(rep, des map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		doc, _ := sh.Document("pi", name)
		rep, _ := doc.Reported["thingd"].(map[string]any)
		des, _ := doc.Desired["thingd"].(map[string]any)
		if rep != nil && cond(rep, des) {
			return rep
		}
		if time.Now().After(deadline) {
			t.Fatalf("shadow %q never %s; document %+v", name, what, doc)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func at(m map[string]any, path string) any {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

// TestShadowPublishReportedState mirrors Device Advisor's "Shadow publish reported state":
// once connected, the device publishes its reported state to the shadow's update topic
// (classic and named) and the shadow service accepts it. The reported state carries thingd's
// version, clock, queue, counters, connection and certificate expiry.
func TestShadowPublishReportedState(t *testing.T) {
	for _, name := range []string{"", "thingd"} {
		t.Run("name="+name, func(t *testing.T) {
			w, b, sh := newShadowWorld(t, "[shadow]\nenabled = true\nname = \""+name+"\"\n")
			base := "$aws/things/pi/shadow"
			if name != "" {
				base += "/name/" + name
			}
			updates, err := b.Subscribe(base + "/update")
			if err != nil {
				t.Fatal(err)
			}
			accepted, err := b.Subscribe(base + "/update/accepted")
			if err != nil {
				t.Fatal(err)
			}
			p := w.start(t)
			defer p.stop(t)
			up, err := updates.Wait(1, 60*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if up[0].ClientID != "thingd-test" && up[0].ClientID != "" {
				t.Fatalf("update from %q", up[0].ClientID)
			}
			var req struct {
				State struct {
					Reported map[string]any `json:"reported"`
				} `json:"state"`
				ClientToken string `json:"clientToken"`
			}
			if err := json.Unmarshal(up[0].Payload, &req); err != nil || req.State.Reported["thingd"] == nil || req.ClientToken == "" {
				t.Fatalf("update %s: %v", up[0].Payload, err)
			}
			acc, err := accepted.Wait(1, 60*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(acc[0].Payload), req.ClientToken) {
				t.Fatalf("accepted %s is not the answer to %s", acc[0].Payload, up[0].Payload)
			}
			rep := waitShadow(t, sh, name, "reports a synced clock", func(rep, _ map[string]any) bool {
				return at(rep, "clock.synced") == true
			})
			for _, k := range []string{"version", "queue.depth", "counters.published", "connection.reconnects", "connection.since", "certificate.not_after", "log.level", "telemetry", "mqtt.max_publish_rate"} {
				if k != "telemetry" && at(rep, k) == nil {
					t.Errorf("reported.thingd.%s missing: %v", k, rep)
				}
			}
			if at(rep, "version") != version && !strings.HasPrefix(at(rep, "version").(string), "dev") {
				t.Errorf("version %v", at(rep, "version"))
			}
			if name != "" {
				if _, classic := sh.Document("pi", ""); classic {
					t.Error("a named shadow's thingd also wrote the classic shadow")
				}
			}
			if s := b.Stats(); len(s.DeniedPublishes) != 0 || len(s.DeniedSubscribes) != 0 {
				t.Fatalf("the policy denied %v %v", s.DeniedPublishes, s.DeniedSubscribes)
			}
		})
	}
}

// TestShadowUpdateReportedState mirrors Device Advisor's "Shadow update reported state":
// the cloud sets a desired state and the device brings its reported state to match, so the
// delta clears. The desired telemetry interval applies live: telemetry that came once a
// minute comes every 2 s, on the same connection.
func TestShadowUpdateReportedState(t *testing.T) {
	w, b, sh := newShadowWorld(t, "[shadow]\nenabled = true\ninterval = \"2s\"\n[[telemetry]]\ntopic = \"dt/{thing}/system\"\ninterval = \"60s\"\n")
	tele, err := b.Subscribe("dt/pi/system")
	if err != nil {
		t.Fatal(err)
	}
	p := w.start(t)
	defer p.stop(t)
	waitShadow(t, sh, "", "reports", func(rep, _ map[string]any) bool { return at(rep, "telemetry.interval") == "1m0s" })
	if _, err := tele.Wait(1, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	connects := b.Stats().Connects
	desired := map[string]any{"thingd": map[string]any{"telemetry": map[string]any{"interval": "2s"}, "log": map[string]any{"level": "warn"}}}
	if _, err := sh.SetDesired(b, "pi", "", desired); err != nil {
		t.Fatal(err)
	}
	waitShadow(t, sh, "", "matches the desired state", func(rep, _ map[string]any) bool {
		return at(rep, "telemetry.interval") == "2s" && at(rep, "log.level") == "warn"
	})
	// The interval in effect: three more samples well before the old minute is up.
	before := len(tele.Messages())
	if _, err := tele.Wait(before+3, 30*time.Second); err != nil {
		t.Fatalf("telemetry did not follow the desired interval: %v", err)
	}
	if s := b.Stats(); s.Connects != connects {
		t.Errorf("applying the setting reconnected (%d connects, were %d)", s.Connects, connects)
	}
	// Persisted for an offline restart.
	saved, err := os.ReadFile(filepath.Join(w.dir, "shadow.json"))
	if err != nil || !strings.Contains(string(saved), `"2s"`) {
		t.Fatalf("saved settings %s: %v", saved, err)
	}
}

// TestShadowInvalidDesiredRefused: a desired value the config file would refuse is refused
// with the same reason, reported under reported.thingd.refused; the valid setting beside it
// applies and nothing else changes.
func TestShadowInvalidDesiredRefused(t *testing.T) {
	w, b, sh := newShadowWorld(t, "[shadow]\nenabled = true\nlock = [\"mqtt.max_publish_rate\"]\n[[telemetry]]\ntopic = \"dt/{thing}/system\"\ninterval = \"60s\"\n")
	p := w.start(t)
	defer p.stop(t)
	waitShadow(t, sh, "", "reports", func(rep, _ map[string]any) bool { return at(rep, "log.level") == "debug" })
	desired := map[string]any{"thingd": map[string]any{
		"telemetry": map[string]any{"interval": "100ms"},
		"mqtt":      map[string]any{"max_publish_rate": 5},
		"log":       map[string]any{"level": "info"},
	}}
	if _, err := sh.SetDesired(b, "pi", "", desired); err != nil {
		t.Fatal(err)
	}
	rep := waitShadow(t, sh, "", "reports the refusal", func(rep, _ map[string]any) bool {
		return at(rep, "refused.telemetry.interval") != nil && at(rep, "refused.mqtt.max_publish_rate") != nil && at(rep, "log.level") == "info"
	})
	if r, _ := at(rep, "refused.telemetry.interval").(string); !strings.Contains(r, `use at least "1s"`) {
		t.Errorf("refusal reason %q", r)
	}
	if r, _ := at(rep, "refused.mqtt.max_publish_rate").(string); !strings.Contains(r, "locked by shadow.lock") {
		t.Errorf("lock reason %q", r)
	}
	if at(rep, "telemetry.interval") != "1m0s" || at(rep, "mqtt.max_publish_rate") != 100.0 {
		t.Errorf("a refused setting changed: %v", rep)
	}
	if !strings.Contains(p.log.String(), "desired setting refused") {
		t.Error("the refusal is not in the journal")
	}
	out, errOut, code := runThingd(t, nil, "status", "--socket", w.socket)
	if code != 0 || !strings.Contains(out, "refused telemetry.interval: is 100ms") || !strings.Contains(out, "settings from the shadow: log.level = info") {
		t.Errorf("thingd status: exit %d: %s%s", code, out, errOut)
	}
}

// lostPublisher is a link that loses every message: a cloud-side change the device never hears of.
type lostPublisher struct{}

func (lostPublisher) Publish(string, []byte, byte) error { return nil }

// TestShadowGetAfterReconnect: a desired change whose delta never reached the device (it
// was away) is taken from the get thingd sends after connecting again.
func TestShadowGetAfterReconnect(t *testing.T) {
	w, _, sh := newShadowWorld(t, "[shadow]\nenabled = true\n")
	p := w.start(t)
	waitShadow(t, sh, "", "reports", func(rep, _ map[string]any) bool { return at(rep, "log.level") == "debug" })
	if code := p.stop(t); code != 0 {
		t.Fatalf("stop: exit %d", code)
	}
	if _, err := sh.SetDesired(lostPublisher{}, "pi", "", map[string]any{"thingd": map[string]any{"log": map[string]any{"level": "warn"}}}); err != nil {
		t.Fatal(err)
	}
	p = w.start(t)
	defer p.stop(t)
	waitShadow(t, sh, "", "takes the missed desired state", func(rep, _ map[string]any) bool { return at(rep, "log.level") == "warn" })
}

// TestShadowCommands: `thingd shadow update` made while the device cannot reach AWS is
// queued durably and reaches the named shadow once it connects; `get` prints the shadow
// through the daemon's connection (a missing one exits 1 with AWS's reason); `delete`
// removes it.
func TestShadowCommands(t *testing.T) {
	w, b, sh := newShadowWorld(t, "[shadow]\nenabled = true\nlocal = [\"app\", \"none\"]\n")
	closed := *shadowPolicy
	closed.Connect = []string{"someone-else"}
	b.SetPolicy(&closed)
	p := w.start(t)
	defer p.stop(t)
	out, errOut, code := runThingd(t, nil, "shadow", "update", "--socket", w.socket, "--name", "app", "--message", `{"state":{"reported":{"x":1}}}`)
	if code != 0 || !strings.Contains(out, "queued shadow/name/app/update") {
		t.Fatalf("shadow update: exit %d: %s%s", code, out, errOut)
	}
	if _, ok := sh.Document("pi", "app"); ok {
		t.Fatal("the update arrived while the device could not connect")
	}
	b.SetPolicy(shadowPolicy)
	deadline := time.Now().Add(120 * time.Second)
	for {
		if doc, ok := sh.Document("pi", "app"); ok && doc.Reported["x"] == 1.0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the queued update never reached the shadow")
		}
		time.Sleep(100 * time.Millisecond)
	}
	out, errOut, code = runThingd(t, nil, "shadow", "get", "--socket", w.socket, "--name", "app")
	if code != 0 || !strings.Contains(out, `"x": 1`) || !strings.Contains(out, `"version": 1`) {
		t.Fatalf("shadow get: exit %d: %s%s", code, out, errOut)
	}
	out, errOut, code = runThingd(t, nil, "shadow", "get", "--socket", w.socket, "--name", "none")
	if code != 1 || !strings.Contains(errOut, "404") || !strings.Contains(errOut, "No shadow exists") {
		t.Fatalf("shadow get of a missing shadow: exit %d: %s%s", code, out, errOut)
	}
	waitShadow(t, sh, "", "reports", func(rep, _ map[string]any) bool { return rep != nil })
	out, errOut, code = runThingd(t, nil, "shadow", "get", "--socket", w.socket)
	if code != 0 || !strings.Contains(out, `"thingd"`) {
		t.Fatalf("shadow get of the classic shadow: exit %d: %s%s", code, out, errOut)
	}
	if out, errOut, code = runThingd(t, nil, "shadow", "delete", "--socket", w.socket, "--name", "app"); code != 0 {
		t.Fatalf("shadow delete: exit %d: %s%s", code, out, errOut)
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		if _, ok := sh.Document("pi", "app"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the shadow outlived thingd shadow delete")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, errOut, code := runThingd(t, nil, "shadow", "update", "--socket", w.socket, "--message", "not json"); code != 2 || !strings.Contains(errOut, `"state"`) {
		t.Fatalf("a bad document: exit %d: %s", code, errOut)
	}
}

// TestShadowSettingsSurviveOfflineRestart: settings accepted from the shadow are kept on
// disk, so thingd restarted without a connection runs with them (telemetry every 2 s, queued
// while offline) and shows them in thingd status before it could read the shadow again.
func TestShadowSettingsSurviveOfflineRestart(t *testing.T) {
	w, b, sh := newShadowWorld(t, "[shadow]\nenabled = true\n[[telemetry]]\ntopic = \"dt/{thing}/system\"\ninterval = \"60s\"\n")
	p := w.start(t)
	waitShadow(t, sh, "", "reports", func(rep, _ map[string]any) bool { return rep != nil })
	if _, err := sh.SetDesired(b, "pi", "", map[string]any{"thingd": map[string]any{"telemetry": map[string]any{"interval": "2s"}}}); err != nil {
		t.Fatal(err)
	}
	waitShadow(t, sh, "", "takes the setting", func(rep, _ map[string]any) bool { return at(rep, "telemetry.interval") == "2s" })
	if code := p.stop(t); code != 0 {
		t.Fatalf("stop: exit %d", code)
	}
	closed := *shadowPolicy
	closed.Connect = []string{"someone-else"}
	b.SetPolicy(&closed)
	p = w.start(t)
	defer p.stop(t)
	deadline := time.Now().Add(60 * time.Second)
	var st struct {
		Queue struct {
			Depth int `json:"depth"`
		} `json:"queue"`
		Shadow struct {
			InSync   bool           `json:"in_sync"`
			Settings map[string]any `json:"settings"`
		} `json:"shadow"`
	}
	for {
		out, errOut, code := runThingd(t, nil, "status", "--socket", w.socket, "--json")
		if code != 0 {
			t.Fatalf("status: exit %d: %s", code, errOut)
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatal(err)
		}
		// Samples every 2 s pile up in the queue while offline; at 60 s there would be one.
		if st.Shadow.Settings["telemetry.interval"] == "2s" && st.Queue.Depth >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after an offline restart: %s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st.Shadow.InSync || b.Connected("thingd-test") {
		t.Fatal("the device was connected: the test shows nothing")
	}
}
