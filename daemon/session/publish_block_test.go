package session

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"thingd/internal/testbed"
)

// stallConn is a connection whose writes can be made to hang, as on a link that died without
// a FIN; Close releases them.
type stallConn struct {
	net.Conn
	stall  *atomic.Bool
	closed chan struct{}
	once   sync.Once
}

func (c *stallConn) Write(p []byte) (int, error) {
	if c.stall.Load() {
		<-c.closed
		return 0, net.ErrClosed
	}
	return c.Conn.Write(p)
}

func (c *stallConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// A Publish blocked on a dying connection's writer never holds the next connection back: the
// session is connected again while that call is still waiting for paho's write timeout.
func TestBlockedPublishDoesNotHoldNextConnection(t *testing.T) {
	pki := testbed.NewPKI(t, testbed.PKIOptions{})
	b := startBroker(t, pki, nil)
	ev := &eventLog{}
	o := testOptions(t, pki, b.port, ev)
	o.ConnectTimeout = 25 * time.Second // paho's write timeout: how long the Publish blocks
	s, err := New(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	var stall atomic.Bool
	dial := s.dial
	s.dial = func(ctx context.Context) (net.Conn, error) {
		c, err := dial(ctx)
		if err != nil {
			return nil, err
		}
		return &stallConn{Conn: c, stall: &stall, closed: make(chan struct{})}, nil
	}
	start(t, s)
	waitFor(t, "first connection", func() bool { return ev.count(EventConnected) == 1 })

	// paho frees a Publish blocked on the dead connection's queue only by chance (its
	// forwarder picks between that queue and stop), so the round repeats: before the fix
	// one round in two held the next connection for the whole write timeout (25 s here, beyond waitFor's 20 s guard).
	var all sync.WaitGroup
	defer all.Wait() // the blocked calls end with paho's write timeout
	for round := 1; round <= 4; round++ {
		waitFor(t, "all acknowledged", func() bool { return s.store.inFlight() == 0 })
		stall.Store(true)
		all.Add(1)
		go func() {
			defer all.Done()
			for range 10 {
				if _, err := s.Publish(context.Background(), "t/blocked", 1, []byte("x")); err != nil {
					return
				}
			}
		}()
		// Three fill paho's pipeline to its hanging writer; the third waits for it.
		waitFor(t, "publishes blocked", func() bool { return s.store.inFlight() >= 3 })
		stall.Store(false)
		b.hook.drop(t, "device")
		waitFor(t, "the next connection while a Publish waits on the old one", func() bool {
			return ev.count(EventConnected) == round+1
		})
	}
}
