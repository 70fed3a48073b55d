package awsiot_test

import (
	"crypto/tls"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"thingd/internal/devpki"
	"thingd/internal/testbed/awsiot"
)

type world struct {
	b      *awsiot.Broker
	pki    *devpki.PKI
	cliTLS *tls.Config
}

func start(t *testing.T, o awsiot.Options) *world {
	t.Helper()
	p, err := devpki.New(devpki.Options{Dir: t.TempDir(), Name: "awsiot test"})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := p.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := p.Issue("device")
	if err != nil {
		t.Fatal(err)
	}
	cli, err := p.ClientTLS(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	o.ServerTLS = srv
	b, err := awsiot.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return &world{b: b, pki: p, cliTLS: cli}
}

// client is a paho client that never reconnects by itself; lost receives the reason once
// the broker drops it.
type client struct {
	paho.Client
	lost chan error
}

func (w *world) dial(t *testing.T, id string, keepalive time.Duration) (*client, error) {
	t.Helper()
	c := &client{lost: make(chan error, 1)}
	o := paho.NewClientOptions().AddBroker(w.b.URL()).SetClientID(id).SetTLSConfig(w.cliTLS).
		SetCleanSession(true).SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(5 * time.Second).SetKeepAlive(keepalive).
		SetConnectionLostHandler(func(_ paho.Client, err error) { c.lost <- err })
	c.Client = paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, errTimeout
	}
	if tok.Error() != nil {
		return nil, tok.Error()
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c, nil
}

func (w *world) mustDial(t *testing.T, id string) *client {
	t.Helper()
	c, err := w.dial(t, id, 60*time.Second)
	if err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	return c
}

type timeoutError struct{}

func (timeoutError) Error() string { return "timed out" }

var errTimeout error = timeoutError{}

// waitLost fails unless the broker drops c within the guard.
func waitLost(t *testing.T, c *client) {
	t.Helper()
	select {
	case <-c.lost:
	case <-time.After(10 * time.Second):
		t.Fatal("the broker did not close the connection")
	}
}

// waitStats polls until cond holds on the broker's counters.
func waitStats(t *testing.T, b *awsiot.Broker, what string, cond func(awsiot.Stats) bool) awsiot.Stats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := b.Stats()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: stats %+v", what, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
