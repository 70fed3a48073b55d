package awsiot_test

import (
	"fmt"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"thingd/internal/testbed/awsiot"
)

func TestTakeoverDropsOlderConnection(t *testing.T) {
	w := start(t, awsiot.Options{})
	old := w.mustDial(t, "dev1")
	time.Sleep(1100 * time.Millisecond) // AWS allows 1 CONNECT per second per client ID
	w.mustDial(t, "dev1")
	waitLost(t, old)
	s := waitStats(t, w.b, "takeover disconnect", func(s awsiot.Stats) bool { return s.Disconnects["takeover"] == 1 })
	if s.Takeovers != 1 {
		t.Fatalf("takeovers %d", s.Takeovers)
	}
	if !w.b.Connected("dev1") {
		t.Fatal("the newer connection is gone too")
	}
}

func TestConnectRateRefused(t *testing.T) {
	w := start(t, awsiot.Options{})
	w.mustDial(t, "dev1")
	if _, err := w.dial(t, "dev1", time.Minute); err == nil {
		t.Fatal("a second CONNECT within a second was accepted")
	}
	if s := w.b.Stats(); s.ConnectRateRefused != 1 || s.Takeovers != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestKeepaliveClamped(t *testing.T) {
	w := start(t, awsiot.Options{})
	for id, ka := range map[string]time.Duration{"short": 5 * time.Second, "long": 3600 * time.Second, "mid": 60 * time.Second} {
		if _, err := w.dial(t, id, ka); err != nil {
			t.Fatal(err)
		}
	}
	for id, want := range map[string]uint16{"short": 30, "long": 1200, "mid": 60} {
		if got, ok := w.b.Keepalive(id); !ok || got != want {
			t.Errorf("%s: keepalive %d, want %d", id, got, want)
		}
	}
}

func TestQoS2SubscribeGetsNoSuback(t *testing.T) {
	w := start(t, awsiot.Options{})
	c := w.mustDial(t, "dev1")
	tok := c.Subscribe("cmd/#", 2, func(paho.Client, paho.Message) {})
	if tok.WaitTimeout(2 * time.Second) {
		t.Fatalf("a QoS 2 SUBSCRIBE was answered (err %v)", tok.Error())
	}
	if s := w.b.Stats(); s.QoS2Refused != 1 {
		t.Fatalf("qos2 refused %d", s.QoS2Refused)
	}
	if !c.IsConnectionOpen() {
		t.Fatal("the connection was closed; AWS leaves it up")
	}
	if tok := c.Subscribe("cmd/#", 1, func(paho.Client, paho.Message) {}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("a QoS 1 subscribe after it: %v", tok.Error())
	}
}

func TestDeniedSubscribeGets0x80(t *testing.T) {
	w := start(t, awsiot.Options{Policy: &awsiot.Policy{Subscribe: []string{"cmd/${iot:ClientId}/#"}}})
	c := w.mustDial(t, "dev1")
	tok := c.SubscribeMultiple(map[string]byte{"cmd/dev1/#": 1, "cmd/dev2/#": 1}, nil)
	if !tok.WaitTimeout(5 * time.Second) {
		t.Fatal("no SUBACK")
	}
	res := tok.(*paho.SubscribeToken).Result()
	if res["cmd/dev1/#"] != 1 || res["cmd/dev2/#"] != 0x80 {
		t.Fatalf("suback %v", res)
	}
	if s := w.b.Stats(); len(s.DeniedSubscribes) != 1 || s.DeniedSubscribes[0] != "cmd/dev2/#" {
		t.Fatalf("denied %v", s.DeniedSubscribes)
	}
}

func TestReceivePolicy(t *testing.T) {
	w := start(t, awsiot.Options{Policy: &awsiot.Policy{Receive: []string{"cmd/ok"}}})
	c := w.mustDial(t, "dev1")
	got := make(chan string, 4)
	if tok := c.Subscribe("cmd/+", 1, func(_ paho.Client, m paho.Message) { got <- m.Topic() }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	for _, topic := range []string{"cmd/no", "cmd/ok"} {
		if err := w.b.Publish(topic, []byte("x"), 1); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case topic := <-got:
		if topic != "cmd/ok" {
			t.Fatalf("received %s outside iot:Receive", topic)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing received")
	}
}

func TestBasicIngestReachesRuleOnly(t *testing.T) {
	w := start(t, awsiot.Options{})
	all, err := w.b.Subscribe("#")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := w.b.Subscribe("$aws/rules/#")
	if err != nil {
		t.Fatal(err)
	}
	dev := w.mustDial(t, "watcher")
	seen := make(chan string, 4)
	if tok := dev.Subscribe("$aws/rules/#", 1, func(_ paho.Client, m paho.Message) { seen <- m.Topic() }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	c := w.mustDial(t, "dev1")
	if tok := c.Publish("$aws/rules/telemetry_rule/dev1/t", 1, false, "42"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("basic ingest publish not acknowledged: %v", tok.Error())
	}
	if tok := c.Publish("after", 1, false, "x"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	msgs, err := w.b.Rule("telemetry_rule").Wait(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if msgs[0].Topic != "$aws/rules/telemetry_rule/dev1/t" || string(msgs[0].Payload) != "42" || msgs[0].ClientID != "dev1" {
		t.Fatalf("rule got %+v", msgs[0])
	}
	// "after" went through the same broker later, so anything delivered earlier has arrived.
	if _, err := all.Wait(1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if m := all.Messages(); len(m) != 1 || m[0].Topic != "after" {
		t.Fatalf("# subscriber got %+v", m)
	}
	if m := rules.Messages(); len(m) != 0 {
		t.Fatalf("$aws/rules/# subscriber got %+v", m)
	}
	select {
	case topic := <-seen:
		t.Fatalf("a device subscriber got %s", topic)
	default:
	}
}

func TestDroppedPuback(t *testing.T) {
	w := start(t, awsiot.Options{Puback: func(_, topic string, _ uint64) awsiot.PubackAction {
		if topic == "lost" {
			return awsiot.Drop
		}
		return awsiot.Deliver
	}})
	rec, err := w.b.Subscribe("#")
	if err != nil {
		t.Fatal(err)
	}
	c := w.mustDial(t, "dev1")
	lost := c.Publish("lost", 1, false, "a")
	if tok := c.Publish("kept", 1, false, "b"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	if lost.WaitTimeout(500 * time.Millisecond) {
		t.Fatal("the dropped PUBACK arrived")
	}
	msgs, err := rec.Wait(2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if msgs[0].Topic != "lost" || msgs[1].Topic != "kept" {
		t.Fatalf("subscriber got %+v", msgs)
	}
	if s := w.b.Stats(); s.PubacksDropped != 1 {
		t.Fatalf("dropped %d", s.PubacksDropped)
	}
}

func TestDelayedPubackAndInflightLimit(t *testing.T) {
	w := start(t, awsiot.Options{PubackDelay: time.Hour, Puback: func(string, string, uint64) awsiot.PubackAction { return awsiot.Delay }})
	c := w.mustDial(t, "dev1")
	toks := make([]paho.Token, 0, awsiot.MaxInflight+1)
	for i := range awsiot.MaxInflight + 1 {
		toks = append(toks, c.Publish(fmt.Sprintf("t/%d", i), 1, false, "x"))
		if i%50 == 49 {
			time.Sleep(1100 * time.Millisecond) // stay under 100 publishes/s
		}
	}
	s := waitStats(t, w.b, "in-flight limit", func(s awsiot.Stats) bool { return s.InflightDropped == 1 })
	if s.PubacksDelayed != awsiot.MaxInflight {
		t.Fatalf("delayed %d", s.PubacksDelayed)
	}
	w.b.SetPubackDelay(10 * time.Millisecond)
	if toks[0].WaitTimeout(200 * time.Millisecond) {
		t.Fatal("a PUBACK delayed by an hour arrived")
	}
}

func TestDelayedPubackArrives(t *testing.T) {
	w := start(t, awsiot.Options{PubackDelay: 300 * time.Millisecond, Puback: func(string, string, uint64) awsiot.PubackAction { return awsiot.Delay }})
	c := w.mustDial(t, "dev1")
	if tok := c.Publish("t", 1, false, "x"); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("delayed PUBACK never came: %v", tok.Error())
	}
	if s := w.b.Stats(); s.PubacksDelayed != 1 {
		t.Fatalf("delayed %d", s.PubacksDelayed)
	}
}

func TestPublishRateLimit(t *testing.T) {
	w := start(t, awsiot.Options{})
	rec, err := w.b.Subscribe("#")
	if err != nil {
		t.Fatal(err)
	}
	c := w.mustDial(t, "dev1")
	const sent = 1000
	for i := range sent {
		c.Publish(fmt.Sprintf("t/%d", i), 0, false, "x")
	}
	// Sent as fast as paho goes: unless they spread over 10 s, some exceed 100 in a second.
	s := waitStats(t, w.b, "rate drops", func(s awsiot.Stats) bool { return s.RateDropped+s.Published == sent })
	if s.RateDropped == 0 {
		t.Fatalf("none of %d publishes sent at once was dropped", sent)
	}
	if _, err := rec.Wait(s.Published, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if len(rec.Messages()) != s.Published {
		t.Fatalf("subscriber got %d, broker accepted %d", len(rec.Messages()), s.Published)
	}
}

func TestDeniedQoS0PublishAlsoCloses(t *testing.T) {
	w := start(t, awsiot.Options{Policy: &awsiot.Policy{Publish: []string{"ok"}}})
	c := w.mustDial(t, "dev1")
	c.Publish("not-ok", 0, false, "x")
	waitLost(t, c)
}

// echo is a Service answering on .../accepted, the shape the shadow and jobs services will have.
type echo struct{}

func (echo) Handles(topic string) bool { return topic == "$aws/things/dev1/shadow/get" }
func (echo) Handle(_, topic string, payload []byte) ([]awsiot.Message, bool) {
	return []awsiot.Message{{Topic: topic + "/accepted", Payload: payload}}, false
}

func TestServiceAnswers(t *testing.T) {
	w := start(t, awsiot.Options{Services: []awsiot.Service{echo{}}})
	rec, err := w.b.Subscribe("$aws/things/dev1/shadow/#")
	if err != nil {
		t.Fatal(err)
	}
	c := w.mustDial(t, "dev1")
	if tok := c.Publish("$aws/things/dev1/shadow/get", 1, false, "{}"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	msgs, err := rec.Wait(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if msgs[0].Topic != "$aws/things/dev1/shadow/get/accepted" || len(rec.Messages()) != 1 {
		t.Fatalf("got %+v", rec.Messages())
	}
}
