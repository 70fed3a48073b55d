package devpki

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"
)

// ServerTLS is a broker's TLS configuration: the server certificate, and a client certificate
// signed by this CA required from every client (mutual TLS, as AWS IoT Core does it).
func (p *PKI) ServerTLS() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(p.ServerCertFile, p.ServerKeyFile)
	if err != nil {
		return nil, fmt.Errorf("devpki: load the server certificate %s: %w", p.ServerCertFile, err)
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    p.Pool(),
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}
	p.shiftClock(cfg)
	return cfg, nil
}

// ClientTLS is a client's TLS configuration with the given certificate (from Issue) and a
// pool holding only this CA. With a Shift its clock runs ahead by the same amount, so it trusts
// a broker whose certificate is valid only in that future.
func (p *PKI) ClientTLS(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("devpki: load the client certificate %s: %w", certFile, err)
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      p.Pool(),
		MinVersion:   tls.VersionTLS12,
	}
	p.shiftClock(cfg)
	return cfg, nil
}

func (p *PKI) shiftClock(cfg *tls.Config) {
	if p.Shift != 0 {
		shift := p.Shift
		cfg.Time = func() time.Time { return time.Now().Add(shift) }
	}
}

// LoadPair loads a key pair with its parsed leaf: in a go 1.22 module LoadX509KeyPair leaves
// Leaf nil (GODEBUG x509keypairleaf=0), and the tests read names and dates from it.
func LoadPair(cert, key string) (tls.Certificate, error) {
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err == nil && pair.Leaf == nil {
		pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0])
	}
	return pair, err
}
