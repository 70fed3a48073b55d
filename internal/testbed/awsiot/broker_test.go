package awsiot_test

import (
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"thingd/internal/testbed/awsiot"
)

func TestPublishReachesSubscriberAndDevice(t *testing.T) {
	w := start(t, awsiot.Options{})
	rec, err := w.b.Subscribe("dev/#")
	if err != nil {
		t.Fatal(err)
	}
	c := w.mustDial(t, "dev1")
	got := make(chan paho.Message, 1)
	if tok := c.Subscribe("cmd/dev1", 1, func(_ paho.Client, m paho.Message) { got <- m }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	if tok := c.Publish("dev/dev1/t", 1, false, "hello"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	msgs, err := rec.Wait(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if msgs[0].Topic != "dev/dev1/t" || string(msgs[0].Payload) != "hello" {
		t.Fatalf("got %+v", msgs[0])
	}
	if err := w.b.Publish("cmd/dev1", []byte("go"), 1); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if string(m.Payload()) != "go" {
			t.Fatalf("device got %q", m.Payload())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the device did not get the broker's publish")
	}
}

func TestDeniedPublishClosesWithoutPuback(t *testing.T) {
	w := start(t, awsiot.Options{Policy: &awsiot.Policy{Publish: []string{"dev/${iot:ClientId}/#"}}})
	rec, err := w.b.Subscribe("#")
	if err != nil {
		t.Fatal(err)
	}
	c := w.mustDial(t, "dev1")
	if tok := c.Publish("dev/dev1/ok", 1, false, "a"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("allowed publish: %v", tok.Error())
	}
	tok := c.Publish("dev/dev2/not-mine", 1, false, "b")
	waitLost(t, c)
	// paho completes a pending token when the connection dies; a PUBACK would have completed it
	// without an error and before the loss.
	if tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		t.Fatal("the denied publish was acknowledged")
	}
	s := w.b.Stats()
	if len(s.DeniedPublishes) != 1 || s.DeniedPublishes[0] != "dev/dev2/not-mine" {
		t.Fatalf("denied publishes %v", s.DeniedPublishes)
	}
	waitStats(t, w.b, "disconnect reason", func(s awsiot.Stats) bool { return s.Disconnects["policy denied publish"] == 1 })
	if msgs := rec.Messages(); len(msgs) != 1 || msgs[0].Topic != "dev/dev1/ok" {
		t.Fatalf("subscriber got %+v", msgs)
	}
}

func TestDeniedConnectIsClosed(t *testing.T) {
	w := start(t, awsiot.Options{Policy: &awsiot.Policy{Connect: []string{"good"}}})
	if _, err := w.dial(t, "bad", time.Minute); err == nil {
		t.Fatal("a client ID outside the policy connected")
	}
	w.mustDial(t, "good")
	if s := w.b.Stats(); s.DeniedConnects != 1 || s.Connects != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestSetPolicyAppliesToNextPublish(t *testing.T) {
	w := start(t, awsiot.Options{})
	c := w.mustDial(t, "dev1")
	if tok := c.Publish("a", 1, false, "x"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	w.b.SetPolicy(&awsiot.Policy{Publish: []string{"b"}})
	c.Publish("a", 1, false, "x")
	waitLost(t, c)
}

func TestCloseIsIdempotent(t *testing.T) {
	w := start(t, awsiot.Options{})
	w.mustDial(t, "dev1")
	if err := w.b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.b.Close(); err != nil {
		t.Fatal(err)
	}
}
