package tls

import (
	"context"
	stdtls "crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// hello is what the in-process broker saw of one connection.
type hello struct {
	protos []string // ClientHello ALPN offer
	serial string   // client certificate serial, hex; "" when none was verified
	err    error
}

// broker is an in-process TLS server on loopback that records each client's hello.
type broker struct {
	addr string
	seen chan hello
}

// startBroker serves with cert, requiring client certificates from clientCA (none
// required when nil). After a good handshake it writes "ok" so the client's first read
// surfaces a TLS 1.3 rejection of its certificate, which arrives after the handshake.
func startBroker(t *testing.T, cert stdtls.Certificate, clientCA *x509.CertPool, alpn []string) *broker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &broker{addr: ln.Addr().String(), seen: make(chan hello, 16)}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); b.serve(conn, cert, clientCA, alpn) }()
		}
	}()
	return b
}

func (b *broker) serve(conn net.Conn, cert stdtls.Certificate, clientCA *x509.CertPool, alpn []string) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	var h hello
	cfg := &stdtls.Config{
		Certificates: []stdtls.Certificate{cert},
		NextProtos:   alpn,
		GetConfigForClient: func(chi *stdtls.ClientHelloInfo) (*stdtls.Config, error) {
			h.protos = chi.SupportedProtos
			return nil, nil
		},
	}
	if clientCA != nil {
		cfg.ClientAuth = stdtls.RequireAndVerifyClientCert
		cfg.ClientCAs = clientCA
	}
	tc := stdtls.Server(conn, cfg)
	h.err = tc.Handshake()
	if h.err == nil {
		if peers := tc.ConnectionState().PeerCertificates; len(peers) > 0 {
			h.serial = peers[0].SerialNumber.Text(16)
		}
		_, h.err = tc.Write([]byte("ok"))
	}
	b.seen <- h
}

// next returns what the broker recorded of the latest connection.
func (b *broker) next(t *testing.T) hello {
	t.Helper()
	select {
	case h := <-b.seen:
		return h
	case <-time.After(10 * time.Second):
		t.Fatal("the test broker saw no connection")
	}
	return hello{}
}

// dial connects with cfg, completes the handshake and reads the broker's "ok".
func dial(t *testing.T, cfg *stdtls.Config, addr string) (stdtls.ConnectionState, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	tc := stdtls.Client(conn, cfg)
	defer tc.Close()
	if err := tc.HandshakeContext(ctx); err != nil {
		return stdtls.ConnectionState{}, err
	}
	tc.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(tc, buf); err != nil {
		return tc.ConnectionState(), err
	}
	if string(buf) != "ok" {
		return tc.ConnectionState(), errors.New("broker said " + string(buf))
	}
	return tc.ConnectionState(), nil
}

// tlsServer wraps conn as the device's broker: its server certificate, requiring the
// device's client certificate.
func tlsServer(conn net.Conn, d *device) *stdtls.Conn {
	return stdtls.Server(conn, &stdtls.Config{
		Certificates: []stdtls.Certificate{d.server.pair},
		ClientAuth:   stdtls.RequireAndVerifyClientCert,
		ClientCAs:    pool(d.ca),
	})
}
