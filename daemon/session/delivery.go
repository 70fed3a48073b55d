package session

import (
	"context"
	"sync"
)

// Delivery is the outcome of one Publish: for QoS1 the broker's PUBACK, for QoS0 the write
// to the connection.
type Delivery struct {
	done     chan struct{}
	once     sync.Once
	err      error
	sendOnce bool // PublishOnce: failed, not resent, when its connection ends
}

func newDelivery() *Delivery { return &Delivery{done: make(chan struct{})} }

func (d *Delivery) complete(err error) {
	d.once.Do(func() {
		d.err = err
		close(d.done)
	})
}

// Done is closed when the outcome is known.
func (d *Delivery) Done() <-chan struct{} { return d.done }

// Err is the outcome once Done is closed: nil when the broker acknowledged the message,
// ErrSessionLost or ErrClosed when it never will. Before Done it returns nil.
func (d *Delivery) Err() error {
	select {
	case <-d.done:
		return d.err
	default:
		return nil
	}
}

// Wait blocks until the outcome is known or ctx ends (then it returns ctx.Err() and the
// delivery carries on; wait again or drop the handle).
func (d *Delivery) Wait(ctx context.Context) error {
	select {
	case <-d.done:
		return d.err
	case <-ctx.Done():
		return ctx.Err()
	}
}
