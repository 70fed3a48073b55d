package session

import (
	"context"
	"thingd/daemon/limits"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/zap"
)

// onMessage is paho's handler for every inbound PUBLISH. With OrderMatters(false) paho calls
// it on a goroutine of its own, so blocking here never stalls paho's reader; it only holds
// back this message, which stays unacknowledged (QoS1) and so is bounded by the broker's
// in-flight window.
func (s *Session) onMessage(_ mqtt.Client, m mqtt.Message) {
	if !s.enterHandler() {
		return
	}
	defer s.leaveHandler()
	if m.Qos() == 0 {
		select {
		case s.inbox <- m:
		default:
			n := s.dropped.Add(1)
			s.log.Warn("inbound QoS0 message dropped: handlers are behind",
				zap.String("topic", m.Topic()), zap.Int64("dropped_total", n))
		}
		return
	}
	select {
	case s.inbox <- m:
	case <-s.stopping:
	}
}

func (s *Session) enterHandler() bool {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	if s.hclosed {
		return false
	}
	s.handlers++
	return true
}

func (s *Session) leaveHandler() {
	s.hmu.Lock()
	s.handlers--
	if s.handlers == 0 {
		s.hcond.Broadcast()
	}
	s.hmu.Unlock()
}

// worker hands inbound messages to the subscriptions, one at a time.
func (s *Session) worker(ctx context.Context) {
	defer s.bg.Done()
	for {
		select {
		case m := <-s.inbox:
			s.handle(ctx, m)
		case <-s.stopping:
			return // what is left in the inbox is unacknowledged; the broker sends it again
		}
	}
}

// handle gives m to every matching subscription and acknowledges it once all accepted it.
func (s *Session) handle(ctx context.Context, m mqtt.Message) {
	topic, payload := m.Topic(), m.Payload()
	matched, refused := 0, 0
	for i := range s.subs {
		sub := &s.subs[i]
		// Our own matcher, not paho's routes: a message that matches several subscriptions
		// is acknowledged once, after all of them.
		if !limits.Match(sub.Filter, topic) {
			continue
		}
		matched++
		if err := sub.Handle(ctx, topic, payload); err != nil {
			refused++
			s.log.Warn("subscription handler did not accept a message",
				zap.String("topic", topic), zap.String("filter", sub.Filter), zap.Error(err))
		}
	}
	if matched == 0 {
		// A leftover subscription of the persistent session, or a broker quirk: nobody
		// wants it, so acknowledge it instead of having it delivered again forever.
		s.log.Warn("inbound message matches no subscription; dropping it", zap.String("topic", topic))
	}
	if refused == 0 {
		m.Ack()
		return
	}
	if m.Qos() > 0 {
		s.log.Info("message left unacknowledged; the broker delivers it again after a reconnect",
			zap.String("topic", topic))
	}
}
