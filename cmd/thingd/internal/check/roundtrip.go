package check

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"thingd/daemon/config"
	"thingd/internal/human"
)

// roundTripStep subscribes to a fresh test topic, publishes one QoS1 message to it and
// waits for it to come back: the broker's policy allows the device to send and to receive.
func (r *runner) roundTripStep(ctx context.Context) Result {
	if r.client == nil {
		return skip("roundtrip", "no MQTT connection: "+r.noMQTT)
	}
	nonce := make([]byte, 4)
	_, _ = rand.Read(nonce)
	topic := config.ExpandTopic("thingd/check/{thing}/", r.cfg.Thing()) + hex.EncodeToString(nonce)
	payload := []byte("thingd check " + hex.EncodeToString(nonce))
	data := map[string]any{"topic": topic}
	policy := fmt.Sprintf("on AWS IoT the policy must allow iot:Subscribe on topicfilter/%s, iot:Publish and iot:Receive on topic/%s",
		config.ExpandTopic("thingd/check/{thing}/*", r.cfg.Thing()), config.ExpandTopic("thingd/check/{thing}/*", r.cfg.Thing()))

	ctx, cancel := context.WithTimeout(ctx, r.o.RoundTrip)
	defer cancel()
	got := make(chan []byte, 4)
	start := time.Now()
	sub := r.client.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) {
		select {
		case got <- m.Payload():
		default:
		}
	})
	if !waitToken(ctx, sub, r.o.RoundTrip) {
		return fail("roundtrip", fmt.Sprintf("no SUBACK for %s within %s", topic, r.o.RoundTrip), policy, data)
	}
	// Leave the daemon's persistent session as it was.
	defer func() { waitToken(context.Background(), r.client.Unsubscribe(topic), time.Second) }()
	if err := sub.Error(); err != nil {
		return fail("roundtrip", fmt.Sprintf("subscribe to %s: %v", topic, err), policy, data)
	}
	if code := sub.(*mqtt.SubscribeToken).Result()[topic]; code == 0x80 {
		return fail("roundtrip", fmt.Sprintf("the broker refused the subscription to %s (SUBACK 0x80)", topic), policy, data)
	}
	pub := r.client.Publish(topic, 1, false, payload)
	if !waitToken(ctx, pub, r.o.RoundTrip) {
		return fail("roundtrip", fmt.Sprintf("no PUBACK for %s within %s", topic, r.o.RoundTrip), policy, data)
	}
	if err := pub.Error(); err != nil {
		return fail("roundtrip", fmt.Sprintf("publish to %s: %v (AWS IoT closes the connection on a publish the policy denies)", topic, err), policy, data)
	}
	for {
		select {
		case p := <-got:
			if !bytes.Equal(p, payload) {
				continue
			}
			took := time.Since(start)
			data["roundtrip_ms"] = ms(took)
			return pass("roundtrip", fmt.Sprintf("subscribed, published and received one QoS1 message on %s in %s", topic, human.Duration(took)), data)
		case <-ctx.Done():
			return fail("roundtrip", fmt.Sprintf("published to %s (PUBACK received) but the message did not come back within %s", topic, r.o.RoundTrip),
				policy, data)
		}
	}
}
