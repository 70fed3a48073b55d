package session

import (
	"context"
	"errors"
)

// ErrConnectionLost: a PublishOnce message got no PUBACK before its connection ended. The
// session does not send it again; the message may or may not have reached the broker.
var ErrConnectionLost = errors.New("mqtt: connection lost before PUBACK")

// PublishOnce is Publish for a caller that resends by itself: if the connection ends before
// the PUBACK, the message is taken out of the session's store (the next connection does
// not resend it) and its Delivery fails with ErrConnectionLost, before the next connection
// is up.
//
// The drain needs this to find a message the broker refuses: AWS IoT closes the connection
// on a publish its policy denies, and a session that resent everything unacknowledged on
// each new connection would resend that message first every time, and lose every time.
// Owning the resend, the drain can send the oldest unacknowledged message alone first
// and see whether it is the one that kills the connection.
func (s *Session) PublishOnce(ctx context.Context, topic string, qos byte, payload []byte) (*Delivery, error) {
	return s.publish(ctx, topic, qos, payload, true)
}

// dropOnce takes every PublishOnce message still waiting for its PUBACK out of the store
// (so the next client's resume does not send it) and fails its Delivery with err. Run calls
// it when a connection has ended, before the next connect.
func (t *trackingStore) dropOnce(err error) int {
	t.mu.Lock()
	var ds []*Delivery
	for key, d := range t.pending {
		if d.sendOnce {
			t.inner.Del(key)
			delete(t.pending, key)
			ds = append(ds, d)
		}
	}
	t.mu.Unlock()
	for _, d := range ds {
		d.complete(err)
	}
	return len(ds)
}
