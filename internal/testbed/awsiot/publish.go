package awsiot

import (
	"slices"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// AWS message broker quotas per connection.
const (
	MaxPublishRate = 100 // publishes per second
	MaxInflight    = 100 // QoS 1 publishes awaiting their PUBACK
)

// onPublish applies, in AWS's order, QoS 2 refusal, iot:Publish, the rate and in-flight
// quotas, the services on reserved topics, and the PUBACK decision.
func (b *Broker) onPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	topic, qos := pk.TopicName, pk.FixedHeader.Qos
	b.mu.Lock()
	c := b.conns[cl]
	if c == nil { // not through onConnect (cannot happen); keep mochi's own behaviour
		b.mu.Unlock()
		return pk, nil
	}
	if qos > 1 {
		b.stats.QoS2Refused++
		b.mu.Unlock()
		return ignored(), nil
	}
	var list []string
	if b.policy != nil {
		list = b.policy.Publish
	}
	if !allowed(list, cl.ID, topic) {
		b.stats.DeniedPublishes = append(b.stats.DeniedPublishes, topic)
		c.reason = "policy denied publish"
		b.mu.Unlock()
		return pk, packets.ErrRejectPacket // closes the connection, no PUBACK
	}
	if !b.noLimits {
		if now := time.Now().Unix(); now != c.window {
			c.window, c.count = now, 0
		}
		c.count++
		if c.count > MaxPublishRate {
			b.stats.RateDropped++
			b.mu.Unlock()
			return ignored(), nil
		}
		if qos == 1 && c.pending >= MaxInflight {
			b.stats.InflightDropped++
			b.mu.Unlock()
			return ignored(), nil
		}
	}
	b.stats.Published++
	action, decide := Deliver, b.puback
	var n uint64
	if qos == 1 {
		b.qos1++
		n = b.qos1
	}
	b.mu.Unlock()

	if qos == 1 && decide != nil {
		action = decide(cl.ID, topic, n)
	}
	deliver := true
	if svc := b.service(topic); svc != nil {
		var replies []Message
		replies, deliver = svc.Handle(cl.ID, topic, slices.Clone(pk.Payload))
		for _, r := range replies {
			_ = b.srv.Publish(r.Topic, r.Payload, false, r.QoS)
		}
	}
	if deliver && (qos == 0 || action == Deliver) {
		return pk, nil // mochi PUBACKs and delivers
	}
	if deliver {
		_ = b.srv.Publish(topic, pk.Payload, pk.FixedHeader.Retain, qos)
	}
	if qos == 1 {
		b.ack(cl, pk.PacketID, action)
	}
	return ignored(), nil
}
