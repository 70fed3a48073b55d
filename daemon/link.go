package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"thingd/daemon/session"
	"thingd/daemon/uplink"
)

// sessionLink adapts the generation's MQTT session to uplink.Link. The session is made
// only after the TLS files load, so the link exists first and is attached later; the
// session's events drive the one Up signal the uplink waits on.
type sessionLink struct {
	mu   sync.Mutex
	sess *session.Session
	up   chan struct{} // closed while connected
	isUp bool
}

func newSessionLink() *sessionLink { return &sessionLink{up: make(chan struct{})} }

func (l *sessionLink) attach(s *session.Session) {
	l.mu.Lock()
	l.sess = s
	l.mu.Unlock()
}

func (l *sessionLink) session() *session.Session {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sess
}

// event is the session's OnEvent: it must not block.
func (l *sessionLink) event(e session.Event) {
	switch e.Kind {
	case session.EventConnected:
		l.setUp(true)
	case session.EventDisconnected:
		l.setUp(false)
	}
}

func (l *sessionLink) setUp(up bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if up == l.isUp {
		return
	}
	l.isUp = up
	if up {
		close(l.up)
	} else {
		l.up = make(chan struct{})
	}
}

func (l *sessionLink) Up() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.up
}

func (l *sessionLink) Publish(ctx context.Context, topic string, qos byte, payload []byte) (uplink.Delivery, error) {
	s := l.session()
	if s == nil {
		return nil, uplink.ErrNotConnected
	}
	dl, err := s.PublishOnce(ctx, topic, qos, payload) // the uplink resends by itself (uplink/probe.go)
	if err != nil {
		if errors.Is(err, session.ErrNotConnected) {
			return nil, fmt.Errorf("%w: %w", uplink.ErrNotConnected, err)
		}
		return nil, err
	}
	return dl, nil
}

func (l *sessionLink) Reconnect(reason string) bool {
	if s := l.session(); s != nil {
		return s.Reconnect(reason)
	}
	return false
}
