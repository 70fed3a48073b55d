package session

import (
	"context"
	"errors"
	"fmt"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/zap"
)

// Publish sends one message and returns its Delivery at once; many may be in flight.
//
// When no connection is up it returns ErrNotConnected immediately and nothing is sent; after
// Run ended, ErrClosed. Topic and payload limits are the caller's business (the daemon
// refuses bad messages at the door); only QoS 0 and 1 are accepted here.
//
// A QoS1 Delivery completes with the broker's PUBACK, even if that takes reconnects: paho
// resends the message with DUP=1 on every new connection of the persistent session.
//
// ctx is checked before sending; the call itself can block while the connection's writer is
// busy, at most ConnectTimeout. paho keeps payload (no copy) until the PUBACK to resend it,
// so the caller must not modify it before the Delivery is done.
func (s *Session) Publish(ctx context.Context, topic string, qos byte, payload []byte) (*Delivery, error) {
	return s.publish(ctx, topic, qos, payload, false)
}

func (s *Session) publish(ctx context.Context, topic string, qos byte, payload []byte, once bool) (*Delivery, error) {
	if qos > 1 {
		return nil, fmt.Errorf("publish to %s: QoS %d is not supported (AWS IoT supports 0 and 1)", topic, qos)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d := newDelivery()
	d.sendOnce = once
	// pubMu only guards the choice of client: paho's Publish can block for the write timeout
	// on a dying connection, and holding pubMu across it would keep serve from installing
	// the next connection that long.
	s.pubMu.Lock()
	client, closed := s.client, s.closed
	s.pubMu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	if !s.connected.Load() || client == nil {
		return nil, ErrNotConnected
	}
	var stored bool
	if qos > 0 {
		// The attach window ends when paho stores the packet, which it does before it waits
		// for the connection's writer, so a blocked Publish never holds up the next one.
		s.store.beginAttach(d)
	}
	tok := client.Publish(topic, qos, false, payload)
	if qos > 0 {
		stored = s.store.endAttach(d)
	}
	refused := !stored && isDone(tok) && tok.Error() != nil
	if qos == 0 && !refused {
		s.bg.Add(1)
		go s.watchQoS0(tok, d)
	}

	switch {
	case refused:
		// paho refused it before sending, and the token holds why.
		if errors.Is(tok.Error(), mqtt.ErrNotConnected) {
			return nil, ErrNotConnected
		}
		return nil, fmt.Errorf("publish to %s: %w", topic, tok.Error())
	case stored && isDone(tok) && tok.Error() != nil:
		// Stored but not handed to the connection in time: paho sends it with the next
		// connection's resends, and the Delivery still completes on its PUBACK.
		s.log.Warn("publish is waiting for the next connection", zap.String("topic", topic), zap.Error(tok.Error()))
	case qos > 0 && !stored:
		// Cannot happen with paho v1.5.1 (a QoS1 publish is stored or refused); fail loudly
		// rather than hand out a Delivery that never completes.
		return nil, fmt.Errorf("publish to %s: paho neither stored nor refused the message", topic)
	}
	return d, nil
}

// watchQoS0 completes a QoS0 delivery once paho wrote it (or failed to).
func (s *Session) watchQoS0(tok mqtt.Token, d *Delivery) {
	defer s.bg.Done()
	select {
	case <-tok.Done():
		if err := tok.Error(); errors.Is(err, mqtt.ErrNotConnected) {
			d.complete(ErrNotConnected)
		} else {
			d.complete(err)
		}
	case <-s.stopping:
		d.complete(ErrClosed)
	}
}

func isDone(tok mqtt.Token) bool {
	select {
	case <-tok.Done():
		return true
	default:
		return false
	}
}
