package tls

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// Probe reports the broker's post-handshake refusal of the device certificate (TLS 1.3)
// as KindRejected, and a broker that accepts as success.
func TestProbe(t *testing.T) {
	d := newDevice(t)
	stranger := newCA(t, "stranger CA")
	tests := []struct {
		name     string
		clientCA *testCA
		kind     Kind // 0 = accepted
	}{
		{"accepted", d.ca, 0},
		{"refused", stranger, KindRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := startBroker(t, d.server.pair, pool(tt.clientCA), nil)
			c, err := Load(d.options())
			if err != nil {
				t.Fatal(err)
			}
			conn, err := net.Dial("tcp", b.addr)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			state, err := c.Probe(ctx, conn, 10*time.Second, true)
			b.next(t)
			var ce *CertError
			switch {
			case tt.kind == 0 && err != nil:
				t.Fatalf("Probe = %v", err)
			case tt.kind == 0 && !state.HandshakeComplete:
				t.Fatal("Probe returned no connection state")
			case tt.kind != 0 && (!errors.As(err, &ce) || ce.Kind != tt.kind):
				t.Fatalf("Probe = %v, want kind %v", err, tt.kind)
			}
		})
	}
}

// A broker that stays silent after the handshake, as MQTT brokers do before CONNECT,
// counts as accepting once settle has passed.
func TestProbeSilentBroker(t *testing.T) {
	d := newDevice(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	release := make(chan struct{})
	t.Cleanup(func() { ln.Close() })
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer conn.Close()
		tc := tlsServer(conn, d)
		done <- tc.Handshake()
		<-release
	}()
	c, err := Load(d.options())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Probe(context.Background(), conn, 50*time.Millisecond, true)
	close(release)
	if err != nil {
		t.Fatalf("Probe = %v, want success", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
}
