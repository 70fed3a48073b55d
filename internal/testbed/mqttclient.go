package testbed

import (
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Message is one message a Recorder received.
type Message struct {
	Topic    string
	Payload  []byte
	Retained bool
	Dup      bool
	QoS      byte
}

// Recorder keeps every message a test-side subscriber received, in arrival order.
type Recorder struct {
	mu      sync.Mutex
	msgs    []Message
	changed chan struct{} // closed and replaced on every new message
}

func (r *Recorder) record(_ mqtt.Client, m mqtt.Message) {
	msg := Message{
		Topic:    m.Topic(),
		Payload:  append([]byte(nil), m.Payload()...),
		Retained: m.Retained(),
		Dup:      m.Duplicate(),
		QoS:      m.Qos(),
	}
	r.mu.Lock()
	r.msgs = append(r.msgs, msg)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// Messages returns a copy of what arrived so far.
func (r *Recorder) Messages() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.msgs...)
}

// Wait returns all messages once at least n have arrived, or fails the test after timeout.
func (r *Recorder) Wait(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		r.mu.Lock()
		if len(r.msgs) >= n {
			msgs := append([]Message(nil), r.msgs...)
			r.mu.Unlock()
			return msgs
		}
		got, changed := len(r.msgs), r.changed
		r.mu.Unlock()
		select {
		case <-changed:
		case <-timer.C:
			t.Fatalf("waited %v for %d messages, got %d", timeout, n, got)
		}
	}
}

// Subscribe connects a test-side client (testbed-client certificate, its own client ID) that
// subscribes to topic at QoS 1 and records what arrives. It returns once the broker has
// acknowledged the subscription, and re-subscribes after the broker restarts. Wildcards work.
func (m *Mosquitto) Subscribe(t testing.TB, topic string) *Recorder {
	t.Helper()
	r := &Recorder{changed: make(chan struct{})}
	subscribed := make(chan error, 1)
	opts := m.clientOptions(t, "sub").
		SetAutoReconnect(true).
		SetMaxReconnectInterval(500 * time.Millisecond).
		SetOnConnectHandler(func(c mqtt.Client) {
			// paho runs this in its own goroutine, so waiting for the SUBACK here is fine.
			tok := c.Subscribe(topic, 1, r.record)
			tok.Wait()
			select {
			case subscribed <- tok.Error():
			default: // only the first subscription is waited for
			}
		})
	c := mqtt.NewClient(opts)
	connect(t, c, m.Addr)
	t.Cleanup(func() { c.Disconnect(quiesce) })
	select {
	case err := <-subscribed:
		if err != nil {
			t.Fatalf("subscribe to %q on %s: %v", topic, m.Addr, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no SUBACK for %q from %s within 10s", topic, m.Addr)
	}
	return r
}

// Publish sends one non-retained message from a short-lived test-side client and returns once
// the broker has it (PUBACK/PUBCOMP for QoS 1/2).
func (m *Mosquitto) Publish(t testing.TB, topic string, payload []byte, qos byte) {
	t.Helper()
	c := mqtt.NewClient(m.clientOptions(t, "pub"))
	connect(t, c, m.Addr)
	defer c.Disconnect(quiesce)
	tok := c.Publish(topic, qos, false, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish to %q on %s: %v", topic, m.Addr, tok.Error())
	}
}

// quiesce is how long Disconnect may wait (ms). Generous, because paho's Disconnect returns
// after this long even if its goroutine still waits out a reconnect attempt, and goleak would
// see that goroutine; a clean disconnect finishes long before.
const quiesce = 2000

func (m *Mosquitto) clientOptions(t testing.TB, kind string) *mqtt.ClientOptions {
	t.Helper()
	return mqtt.NewClientOptions().
		AddBroker("ssl://" + m.Addr).
		SetClientID(clientID(kind)).
		SetTLSConfig(m.PKI.ClientTLS(t)).
		SetCleanSession(true).
		SetConnectTimeout(5 * time.Second)
}

func connect(t testing.TB, c mqtt.Client, addr string) {
	t.Helper()
	tok := c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect a test-side MQTT client to %s: %v", addr, tok.Error())
	}
}
