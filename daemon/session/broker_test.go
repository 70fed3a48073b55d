package session

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"thingd/internal/testbed"
)

// faultHook makes an in-process mochi broker misbehave on purpose and records what the
// client sent. Swallowed packets are turned into a PINGREQ: the broker answers with a
// PINGRESP, which paho ignores, so the packet is lost without the connection breaking.
type faultHook struct {
	mochi.HookBase
	mu               sync.Mutex
	swallowSubscribe int    // SUBSCRIBE packets still to swallow
	swallowPublish   int    // client PUBLISH packets still to swallow
	kick             bool   // close every connection right after CONNACK
	deny             string // a topic filter nobody may subscribe to (like an IoT policy)
	subscribes       int
	publishes        []packets.Packet // client PUBLISH packets as read (before swallowing)
	pubacks          int              // PUBACKs from the client
	connects         int
	sessionPresent   []bool
	clients          map[string]*mochi.Client
}

func (h *faultHook) ID() string { return "faults" }

func (h *faultHook) Provides(b byte) bool {
	return b == mochi.OnPacketRead || b == mochi.OnSessionEstablished || b == mochi.OnPacketSent ||
		b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}

// OnConnectAuthenticate lets every client in: the TLS listener already checked its certificate.
func (h *faultHook) OnConnectAuthenticate(*mochi.Client, packets.Packet) bool { return true }

func (h *faultHook) OnACLCheck(_ *mochi.Client, topic string, write bool) bool {
	return write || h.deny == "" || topic != h.deny
}

func (h *faultHook) OnPacketRead(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	swallow := false
	switch pk.FixedHeader.Type {
	case packets.Subscribe:
		h.subscribes++
		if h.swallowSubscribe > 0 {
			h.swallowSubscribe--
			swallow = true
		}
	case packets.Publish:
		h.publishes = append(h.publishes, pk)
		if h.swallowPublish > 0 {
			h.swallowPublish--
			swallow = true
		}
	case packets.Puback:
		h.pubacks++
	}
	if swallow {
		return packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}, ProtocolVersion: pk.ProtocolVersion}, nil
	}
	return pk, nil
}

func (h *faultHook) OnSessionEstablished(cl *mochi.Client, _ packets.Packet) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.connects++
	if h.clients == nil {
		h.clients = map[string]*mochi.Client{}
	}
	h.clients[cl.ID] = cl
	if h.kick {
		cl.Stop(io.EOF)
	}
}

func (h *faultHook) OnPacketSent(_ *mochi.Client, pk packets.Packet, _ []byte) {
	if pk.FixedHeader.Type == packets.Connack {
		h.mu.Lock()
		h.sessionPresent = append(h.sessionPresent, pk.SessionPresent)
		h.mu.Unlock()
	}
}

// drop closes the client's connection from the broker side, as a network failure would.
func (h *faultHook) drop(t *testing.T, clientID string) {
	t.Helper()
	h.mu.Lock()
	cl := h.clients[clientID]
	h.mu.Unlock()
	if cl == nil {
		t.Fatalf("client %q never connected", clientID)
	}
	cl.Stop(io.ErrUnexpectedEOF)
}

func (h *faultHook) snapshot() (subscribes, pubacks, connects int, publishes []packets.Packet) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.subscribes, h.pubacks, h.connects, append([]packets.Packet(nil), h.publishes...)
}

type fakeBroker struct {
	srv  *mochi.Server
	hook *faultHook
	port int
}

// startBroker runs mochi with mutual TLS from pki on a free loopback port.
func startBroker(t *testing.T, pki *testbed.PKI, hook *faultHook) *fakeBroker {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(pki.ServerCertFile, pki.ServerKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := mochi.New(&mochi.Options{
		InlineClient: true,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if hook == nil {
		hook = &faultHook{}
	}
	if err := srv.AddHook(hook, nil); err != nil {
		t.Fatal(err)
	}
	port := testbed.FreeTCPPort(t)
	l := listeners.NewTCP(listeners.Config{ID: "tls", Address: "127.0.0.1:" + strconv.Itoa(port), TLSConfig: &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pki.Pool(),
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}})
	if err := srv.AddListener(l); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &fakeBroker{srv: srv, hook: hook, port: port}
}

// deviceTLS is the simple loader the tests use in place of the tls package.
func deviceTLS(t testing.TB, pki *testbed.PKI) func() (*tls.Config, error) {
	return func() (*tls.Config, error) {
		cert, err := tls.LoadX509KeyPair(pki.DeviceCertFile, pki.DeviceKeyFile)
		if err != nil {
			return nil, err
		}
		return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pki.Pool(), MinVersion: tls.VersionTLS12}, nil
	}
}

// eventLog collects OnEvent calls.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *eventLog) count(k EventKind) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.Kind == k {
			n++
		}
	}
	return n
}

func (l *eventLog) all() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.events...)
}

// testOptions connects to 127.0.0.1:port as client ID "device" with fast schedules.
func testOptions(t testing.TB, pki *testbed.PKI, port int, ev *eventLog) Options {
	return Options{
		Endpoint:       "127.0.0.1",
		Port:           port,
		ClientID:       "device",
		Keepalive:      30 * time.Second,
		TLSConfig:      deviceTLS(t, pki),
		ConnectTimeout: 10 * time.Second,
		AckTimeout:     10 * time.Second,
		Backoff:        BackoffOptions{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond},
		OnEvent:        ev.add,
		Logger:         testLogger(t),
	}
}

// start runs s until the test ends; Run must then return nil.
func start(t *testing.T, s *Session) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v, want nil after cancel", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("Run did not return within 30s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond until it holds; it fails the test after 20s (a hang, not a timing
// assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// collector is a Subscription.Handle that records messages.
type collector struct {
	mu   sync.Mutex
	msgs []string
}

func (c *collector) handle(_ context.Context, topic string, payload []byte) error {
	c.mu.Lock()
	c.msgs = append(c.msgs, topic+" "+string(payload))
	c.mu.Unlock()
	return nil
}

func (c *collector) got() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.msgs...)
}

func freeClosedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}
