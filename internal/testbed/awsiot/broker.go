package awsiot

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// Options configure a Broker. Zero values give AWS's behaviour with everything allowed.
type Options struct {
	// ServerTLS is required: the server certificate and a client CA with
	// tls.RequireAndVerifyClientCert (devpki.PKI.ServerTLS gives one).
	ServerTLS *tls.Config
	// Policy is the IoT policy; nil allows every client, topic and filter.
	Policy *Policy
	// Puback decides the fate of each QoS 1 PUBACK; nil delivers every one.
	Puback PubackFunc
	// PubackDelay is how late a Delay PUBACK is sent; 0 means 2 s.
	PubackDelay time.Duration
	// Addr is the listen address; empty means 127.0.0.1:0.
	Addr string
	// Services are extra AWS services on reserved topics, asked after Basic Ingest.
	Services []Service
	// NoLimits switches off the rate, in-flight and connect-rate quotas (policy, takeover,
	// keepalive, QoS 2 and Basic Ingest still apply).
	NoLimits bool
}

// Broker is a running AWS-IoT-like broker. Close releases it.
type Broker struct {
	srv  *mqtt.Server
	ln   net.Listener
	addr *net.TCPAddr

	mu          sync.Mutex
	policy      *Policy
	puback      PubackFunc
	pubackDelay time.Duration
	noLimits    bool
	conns       map[*mqtt.Client]*conn
	lastConnect map[string]time.Time
	keepalive   map[string]uint16
	stats       Stats
	services    []Service
	ingest      *basicIngest
	timers      map[*time.Timer]struct{}
	qos1        uint64
	nextSub     int
	closed      bool
}

// Start listens on 127.0.0.1:0 (or o.Addr) with mutual TLS and serves until Close.
func Start(o Options) (*Broker, error) {
	if o.ServerTLS == nil {
		return nil, errors.New("awsiot: Options.ServerTLS is nil; pass a server TLS config (devpki.PKI.ServerTLS)")
	}
	addr := o.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	raw, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("awsiot: listen on %s: %w", addr, err)
	}
	b := &Broker{
		ln:          tls.NewListener(raw, serverTLS(o.ServerTLS, o.Services)),
		addr:        raw.Addr().(*net.TCPAddr),
		policy:      o.Policy.clone(),
		puback:      o.Puback,
		pubackDelay: o.PubackDelay,
		noLimits:    o.NoLimits,
		conns:       map[*mqtt.Client]*conn{},
		lastConnect: map[string]time.Time{},
		keepalive:   map[string]uint16{},
		timers:      map[*time.Timer]struct{}{},
		nextSub:     1,
	}
	b.stats.Disconnects = map[string]int{}
	b.ingest = newBasicIngest()
	b.services = append([]Service{b.ingest}, o.Services...)

	b.srv = mqtt.New(&mqtt.Options{
		InlineClient: true,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err := b.srv.AddHook(&hook{b: b}, nil); err != nil {
		_ = b.ln.Close()
		return nil, fmt.Errorf("awsiot: add hook: %w", err)
	}
	if err := b.srv.AddListener(listeners.NewNet("awsiot", b.ln)); err != nil {
		_ = b.ln.Close()
		return nil, fmt.Errorf("awsiot: add listener: %w", err)
	}
	if err := b.srv.Serve(); err != nil {
		_ = b.srv.Close()
		return nil, fmt.Errorf("awsiot: serve: %w", err)
	}
	return b, nil
}

// Addr is the broker's address as host:port.
func (b *Broker) Addr() string { return b.addr.String() }

// Port is the broker's TCP port.
func (b *Broker) Port() int { return b.addr.Port }

// URL is the address in paho's form, tls://127.0.0.1:port.
func (b *Broker) URL() string { return "tls://" + b.addr.IP.String() + ":" + strconv.Itoa(b.addr.Port) }

// Close stops the broker, drops every connection and cancels pending delayed PUBACKs.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	for t := range b.timers {
		t.Stop()
	}
	clear(b.timers)
	b.mu.Unlock()
	return b.srv.Close()
}

// SetPolicy replaces the IoT policy for what follows; nil allows everything. Connections
// already up keep going: like AWS, the new policy applies from the next packet.
func (b *Broker) SetPolicy(p *Policy) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.policy = p.clone()
}

// SetLimits switches the rate, in-flight and connect-rate quotas on (true) or off.
func (b *Broker) SetLimits(on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.noLimits = !on
}

// Keepalive is the keepalive in seconds the broker used for the last CONNECT of clientID
// (after AWS's clamp), and whether that client ever connected.
func (b *Broker) Keepalive(clientID string) (uint16, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k, ok := b.keepalive[clientID]
	return k, ok
}

// Connected reports whether a client with this ID has a live connection.
func (b *Broker) Connected(clientID string) bool {
	cl, ok := b.srv.Clients.Get(clientID)
	return ok && !cl.Closed()
}
