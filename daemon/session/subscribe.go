package session

import (
	"context"
	"fmt"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/zap"
)

// subackFailure is the SUBACK return code for a refused subscription.
const subackFailure = 0x80

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
	if code, ok := st.Result()[sub.Filter]; !ok || code == subackFailure {
		return fmt.Errorf("the broker refused the subscription to %q: check that the IoT policy allows "+
			"iot:Subscribe on topicfilter/%s and iot:Receive on the matching topics", sub.Filter, sub.Filter)
	}
	return nil
}
