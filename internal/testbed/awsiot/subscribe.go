package awsiot

import (
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// deniedFilter is invalid on purpose: mochi answers it with a failure code, 0x80 under 3.1.1.
const deniedFilter = "#/denied-by-iot-policy"

// onSubscribe applies iot:Subscribe per filter and AWS's silence on QoS 2.
func (b *Broker) onSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, f := range pk.Filters {
		if f.Qos > 1 {
			b.stats.QoS2Refused++
			return ignored()
		}
	}
	var list []string
	if b.policy != nil {
		list = b.policy.Subscribe
	}
	filters := make(packets.Subscriptions, len(pk.Filters))
	copy(filters, pk.Filters)
	for i, f := range filters {
		if !allowed(list, cl.ID, f.Filter) {
			b.stats.DeniedSubscribes = append(b.stats.DeniedSubscribes, f.Filter)
			filters[i].Filter = deniedFilter
		}
	}
	pk.Filters = filters
	if c := b.conns[cl]; c != nil {
		c.subscribing = map[string]bool{}
		for _, f := range filters {
			c.subscribing[f.Filter] = true
		}
	}
	return pk
}

// mayReceive applies iot:Receive: a client outside it is simply not sent the message.
func (b *Broker) mayReceive(cl *mqtt.Client, topic string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c := b.conns[cl]; c != nil && c.subscribing[topic] {
		return true
	}
	return b.policy == nil || allowed(b.policy.Receive, cl.ID, topic)
}

func (b *Broker) subscribed(cl *mqtt.Client) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c := b.conns[cl]; c != nil {
		c.subscribing = nil
	}
}
