package awsiot

import (
	"fmt"
	"slices"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Message is one message as the broker saw it.
type Message struct {
	Topic    string
	Payload  []byte
	QoS      byte
	ClientID string // the publisher, when known
}

// Recorder collects messages in arrival order.
type Recorder struct {
	mu     sync.Mutex
	msgs   []Message
	notify chan struct{}
}

func newRecorder() *Recorder { return &Recorder{notify: make(chan struct{})} }

func (r *Recorder) add(m Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	close(r.notify)
	r.notify = make(chan struct{})
	r.mu.Unlock()
}

// Messages is a copy of what arrived so far.
func (r *Recorder) Messages() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

// Wait returns the first n messages once they arrived, or an error naming how many did
// after timeout.
func (r *Recorder) Wait(n int, timeout time.Duration) ([]Message, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		if len(r.msgs) >= n {
			m := slices.Clone(r.msgs[:n])
			r.mu.Unlock()
			return m, nil
		}
		got, ch := len(r.msgs), r.notify
		r.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			return r.Messages(), fmt.Errorf("awsiot: %d of %d messages arrived within %s", got, n, timeout)
		}
	}
}

// Subscribe records every message published to filter from now on (as an in-process
// subscriber: no policy, no quotas). Messages to Basic Ingest topics never arrive, as on AWS.
func (b *Broker) Subscribe(filter string) (*Recorder, error) {
	r := newRecorder()
	b.mu.Lock()
	id := b.nextSub
	b.nextSub++
	b.mu.Unlock()
	err := b.srv.Subscribe(filter, id, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		r.add(Message{Topic: pk.TopicName, Payload: slices.Clone(pk.Payload), QoS: pk.FixedHeader.Qos, ClientID: pk.Origin})
	})
	if err != nil {
		return nil, fmt.Errorf("awsiot: subscribe to %q: %w", filter, err)
	}
	return r, nil
}

// Publish sends a message to the devices subscribed to topic (as AWS would from the console
// or a rule), qos 0 or 1.
func (b *Broker) Publish(topic string, payload []byte, qos byte) error {
	if qos > 1 {
		return fmt.Errorf("awsiot: publish to %q with qos %d: AWS IoT supports qos 0 and 1", topic, qos)
	}
	if err := b.srv.Publish(topic, payload, false, qos); err != nil {
		return fmt.Errorf("awsiot: publish to %q: %w", topic, err)
	}
	return nil
}
