package devpki_test

import (
	"crypto/tls"
	"net"
	"testing"

	"thingd/internal/devpki"
)

// The broker side accepts a client holding a certificate from the same CA and refuses one
// without a certificate or with a certificate from another CA: mutual TLS, as on AWS IoT Core.
func TestServerRequiresClientCertificate(t *testing.T) {
	p := newPKI(t)
	other := newPKI(t)
	srv, err := p.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	good := clientTLS(t, p, p)
	foreign := clientTLS(t, p, other)
	anonymous := good.Clone()
	anonymous.Certificates = nil
	for _, tc := range []struct {
		name   string
		client *tls.Config
		ok     bool
	}{
		{"same CA", good, true},
		{"no certificate", anonymous, false},
		{"other CA", foreign, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.client.ServerName = "localhost"
			err := handshake(srv, tc.client)
			if tc.ok && err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if !tc.ok && err == nil {
				t.Fatal("the server accepted the client, want it refused")
			}
		})
	}
}

// With a Shift both sides live in that future, so they agree on certificates the real clock
// would call not yet valid.
func TestShiftedClocks(t *testing.T) {
	dir := t.TempDir()
	p, err := devpki.New(devpki.Options{Dir: dir, Shift: shift3y})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := p.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	cli := clientTLS(t, p, p)
	cli.ServerName = "127.0.0.1"
	if err := handshake(srv, cli); err != nil {
		t.Fatalf("shifted handshake: %v", err)
	}
	cli.Time = nil
	if err := handshake(srv, cli); err == nil {
		t.Fatal("a client on the real clock accepted a broker certificate valid only in 3 years")
	}
}

func newPKI(t *testing.T) *devpki.PKI {
	t.Helper()
	p, err := devpki.New(devpki.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// clientTLS issues a client certificate from issuer and returns a config trusting p's CA.
func clientTLS(t *testing.T, p, issuer *devpki.PKI) *tls.Config {
	t.Helper()
	cert, key, err := issuer.Issue("client")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := p.ClientTLS(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// handshake runs both sides over a loopback TCP pair and returns the first error of either: under TLS 1.3
// only the server sees a refused client certificate.
//
// Not net.Pipe: a pipe has no buffer, so a side writing its alert while the
// other writes its last flight blocks both forever.
func handshake(srv, cli *tls.Config) error {
	a, b, err := tcpPair()
	if err != nil {
		return err
	}
	defer a.Close()
	defer b.Close()
	serverErr := make(chan error, 1)
	go func() {
		s := tls.Server(a, srv)
		err := s.Handshake()
		if err == nil {
			// Complete the exchange so the client's read below returns.
			_, err = s.Write([]byte{1})
		}
		a.Close()
		serverErr <- err
	}()
	c := tls.Client(b, cli)
	err = c.Handshake()
	if err == nil {
		_, err = c.Read(make([]byte, 1))
	}
	b.Close()
	if sErr := <-serverErr; sErr != nil {
		return sErr
	}
	return err
}

func tcpPair() (net.Conn, net.Conn, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	defer l.Close()
	b, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		return nil, nil, err
	}
	a, err := l.Accept()
	if err != nil {
		b.Close()
		return nil, nil, err
	}
	return a, b, nil
}
