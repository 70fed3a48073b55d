package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// brokerEvents are what the demo shows of the broker's traffic; nil fields are skipped.
type brokerEvents struct {
	Connected    func(clientID, certCN string)
	Subscribed   func(clientID string, filters []string)
	Published    func(clientID, topic string, payload []byte)
	Disconnected func(clientID string, err error)
}

// broker is an in-process MQTT 3.1.1/5 broker on a loopback port that, like AWS IoT Core,
// accepts only clients presenting a certificate from the demo CA.
type broker struct {
	srv  *mqtt.Server
	addr string
}

// startBroker listens with tlsCfg (which must require client certificates) on addr, e.g.
// "127.0.0.1:0" for a free port.
func startBroker(addr string, tlsCfg *tls.Config, ev brokerEvents) (*broker, error) {
	srv := mqtt.New(&mqtt.Options{
		InlineClient: true, // the "cloud" publishes through it
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err := srv.AddHook(&watchHook{ev: ev}, nil); err != nil {
		return nil, fmt.Errorf("broker: add hook: %w", err)
	}
	l := listeners.NewTCP(listeners.Config{ID: "mtls", Address: addr, TLSConfig: tlsCfg})
	if err := srv.AddListener(l); err != nil {
		return nil, fmt.Errorf("broker: listen on %s: %w", addr, err)
	}
	if err := srv.Serve(); err != nil {
		_ = srv.Close()
		return nil, fmt.Errorf("broker: serve: %w", err)
	}
	return &broker{srv: srv, addr: l.Address()}, nil
}

// Addr is "127.0.0.1:port".
func (b *broker) Addr() string { return b.addr }

// Publish sends a QoS 1 message from the broker's own (cloud) side.
func (b *broker) Publish(topic string, payload []byte) error {
	if err := b.srv.Publish(topic, payload, false, 1); err != nil {
		return fmt.Errorf("broker: publish to %s: %w", topic, err)
	}
	return nil
}

// Close disconnects every client and stops listening.
func (b *broker) Close() error { return b.srv.Close() }

// watchHook lets every client in (TLS has already checked its certificate) and reports
// sessions, subscriptions and publishes.
type watchHook struct {
	mqtt.HookBase
	ev brokerEvents
}

func (h *watchHook) ID() string { return "demo-watch" }

func (h *watchHook) Provides(b byte) bool {
	return bytes.Contains([]byte{
		mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnSessionEstablished,
		mqtt.OnSubscribed, mqtt.OnPublished, mqtt.OnDisconnect,
	}, []byte{b})
}

func (h *watchHook) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (h *watchHook) OnACLCheck(*mqtt.Client, string, bool) bool { return true }

func (h *watchHook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	if h.ev.Connected == nil || cl.Net.Inline {
		return
	}
	cn := ""
	if tc, ok := cl.Net.Conn.(*tls.Conn); ok {
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			cn = certs[0].Subject.CommonName
		}
	}
	h.ev.Connected(cl.ID, cn)
}

func (h *watchHook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, _ []byte) {
	if h.ev.Subscribed == nil || cl.Net.Inline {
		return
	}
	var filters []string
	for _, f := range pk.Filters {
		filters = append(filters, f.Filter)
	}
	h.ev.Subscribed(cl.ID, filters)
}

func (h *watchHook) OnPublished(cl *mqtt.Client, pk packets.Packet) {
	if h.ev.Published == nil || cl.Net.Inline {
		return
	}
	h.ev.Published(cl.ID, pk.TopicName, pk.Payload)
}

func (h *watchHook) OnDisconnect(cl *mqtt.Client, err error, _ bool) {
	if h.ev.Disconnected == nil || cl.Net.Inline {
		return
	}
	h.ev.Disconnected(cl.ID, err)
}
