package session

import (
	"context"
	"fmt"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/zap"
)

// maxGrantedQoS is the highest SUBACK code that grants a subscription; MQTT 3.1.1 then
// only has 0x80 (failure), but brokers speaking 5.0 codes (0x87 not authorized) exist.
const maxGrantedQoS = 2

// subscribeAll makes every subscription on the current connection, sending again each one
// whose SUBACK is missing or negative, on its own backoff schedule, until all are in place or
// ctx (the connection) ends. It reports whether all are in place.
func (s *Session) subscribeAll(ctx context.Context, client mqtt.Client) bool {
	b := NewBackoff(s.o.Backoff)
	pending := make([]int, len(s.subs))
	for i := range pending {
		pending[i] = i
	}
	for {
		var failed []int
		for _, i := range pending {
			err := s.subscribeOne(ctx, client, s.subs[i])
			if ctx.Err() != nil {
				return false
			}
			if err != nil {
				failed = append(failed, i)
				s.log.Warn("subscription not in place; trying again", zap.String("filter", s.subs[i].Filter), zap.Error(err))
				continue
			}
			s.log.Info("subscribed", zap.String("filter", s.subs[i].Filter), zap.Uint8("qos", s.subs[i].QoS))
		}
		if len(failed) == 0 {
			return true
		}
		pending = failed
		if s.sleep(ctx, b.Next()) != nil {
			return false
		}
	}
}

func (s *Session) subscribeOne(ctx context.Context, client mqtt.Client, sub Subscription) error {
	tok := client.Subscribe(sub.Filter, sub.QoS, nil) // nil: onMessage handles everything
	done, err := waitToken(ctx, tok, s.o.AckTimeout)
	switch {
	case !done && err == nil:
		return fmt.Errorf("no SUBACK for %q within %v", sub.Filter, s.o.AckTimeout)
	case err != nil:
		return fmt.Errorf("subscribe to %q: %w", sub.Filter, err)
	}
	st, ok := tok.(*mqtt.SubscribeToken)
	if !ok {
		return nil
	}
	// One filter per SUBSCRIBE, so every code is this filter's (paho keys a shared
	// subscription "$share/g/t" under "t").
	refused := len(st.Result()) == 0
	for _, code := range st.Result() {
		refused = refused || code > maxGrantedQoS
	}
	if refused {
		return fmt.Errorf("the broker refused the subscription to %q: check that the IoT policy allows "+
			"iot:Subscribe on topicfilter/%s and iot:Receive on the matching topics", sub.Filter, sub.Filter)
	}
	return nil
}
