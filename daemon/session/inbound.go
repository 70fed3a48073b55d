package session

import (
	"context"
	"sync"
	"time"

	"thingd/daemon/limits"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/zap"
)

// dropLogEvery is how often a run of dropped QoS0 messages is logged (the first drop is
// logged at once), so a flood cannot flood the journal too.
const dropLogEvery = 10 * time.Second

// inboundQueue holds inbound messages in arrival order for the worker. paho delivers them in
// order (OrderMatters(true)) on its router goroutine, which must never block, so the hand-off
// never waits: a QoS0 message finding InboxSize messages queued is dropped; a QoS1 message is
// always queued, because it stays unacknowledged until handled and the broker's in-flight
// window (AWS IoT: 100) bounds how many of those there can be.
type inboundQueue struct {
	mu    sync.Mutex
	msgs  []mqtt.Message
	ready chan struct{} // has a token when msgs is not empty
}

func newInboundQueue() *inboundQueue { return &inboundQueue{ready: make(chan struct{}, 1)} }

// push queues m unless it is QoS0 and limit messages are already waiting.
func (q *inboundQueue) push(m mqtt.Message, limit int) bool {
	q.mu.Lock()
	if m.Qos() == 0 && len(q.msgs) >= limit {
		q.mu.Unlock()
		return false
	}
	q.msgs = append(q.msgs, m)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return true
}

// pop takes the oldest message, if any.
func (q *inboundQueue) pop() (mqtt.Message, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.msgs) == 0 {
		return nil, false
	}
	m := q.msgs[0]
	q.msgs[0] = nil
	q.msgs = q.msgs[1:]
	if len(q.msgs) > 0 {
		select {
		case q.ready <- struct{}{}:
		default:
		}
	}
	return m, true
}

// onMessage is paho's handler for every inbound PUBLISH, called in arrival order on paho's
// router goroutine; it only queues the message (see inboundQueue).
func (s *Session) onMessage(_ mqtt.Client, m mqtt.Message) {
	if !s.enterHandler() {
		return
	}
	defer s.leaveHandler()
	if s.inbox.push(m, s.o.InboxSize) {
		return
	}
	n := s.dropped.Add(1)
	now := s.now()
	s.dropLogMu.Lock()
	logIt := s.dropLogAt.IsZero() || now.Sub(s.dropLogAt) >= dropLogEvery
	if logIt {
		s.dropLogAt = now
	}
	s.dropLogMu.Unlock()
	if logIt {
		s.log.Warn("inbound QoS0 messages dropped: handlers are behind",
			zap.String("topic", m.Topic()), zap.Int64("dropped_total", n),
			zap.Duration("next_report_after", dropLogEvery))
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
		if m, ok := s.inbox.pop(); ok {
			s.handle(ctx, m)
			continue
		}
		select {
		case <-s.inbox.ready:
		case <-s.stopping:
			return // what is left in the inbox is unacknowledged; the broker sends it again
		}
	}
}

// handle gives m to every matching subscription and acknowledges it once all accepted it.
func (s *Session) handle(ctx context.Context, m mqtt.Message) {
	s.handled.Add(1)
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
		ack(m)
		return
	}
	if m.Qos() > 0 {
		s.log.Info("message left unacknowledged; the broker delivers it again after a reconnect",
			zap.String("topic", topic))
	}
}

// ack sends the PUBACK. paho 1.5.0 (the newest that builds with Go 1.22) panics with "send on
// closed channel" when a message is acknowledged after its connection closed, which the ordered
// inbox makes possible. Such a message was never acknowledged, so the broker delivers it again on
// the next connection: dropping the late ack loses nothing.
func ack(m mqtt.Message) {
	defer func() { _ = recover() }()
	m.Ack()
}
