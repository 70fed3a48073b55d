// Package handler acts on MQTT messages that arrive on [[subscribe]] topics: it runs a program
// with the payload on its standard input, or replaces a file with it, and routes topics by filter.
package handler

import (
	"context"
	"errors"
)

// Handler takes inbound messages for one [[subscribe]] entry.
//
// The session acknowledges a QoS 1 message (PUBACK) only after Accept returned nil: from then on
// the message is the handler's responsibility and the broker will not send it again. If Accept
// returns an error the session does not acknowledge, and the broker redelivers the message on a
// later session, so Accept must not report an error for work that has already taken effect.
type Handler interface {
	// Accept takes responsibility for one message and returns once it is safely handed over;
	// what "handed over" means is documented by each implementation. It may block (for example
	// while all execution slots are busy) until ctx ends, and then returns ctx's error without
	// having acted on the message.
	Accept(ctx context.Context, topic string, payload []byte) error
	// Close stops accepting messages and waits for work started by Accept to finish. When ctx ends
	// first, it cuts that work short, waits for it to stop, and returns ctx's error.
	Close(ctx context.Context) error
}

// ErrClosed is returned by Accept and Handle after Close was called.
var ErrClosed = errors.New("handler is closed: thingd is shutting down")
