package testbed

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"testing"
	"time"

	"thingd/internal/devpki"
)

// PKIOptions shapes the certificates NewPKI makes.
type PKIOptions struct {
	// Shift moves every validity window into the future (e.g. 1095*24h): the certificates are
	// valid from now+Shift-1h to now+Shift+30d, so only a world whose clock is ahead accepts them.
	Shift time.Duration
	// Hosts are extra DNS names or IP addresses for the server certificate.
	Hosts []string
	// Name names the CA (devpki adds " CA"); "" is "thingd testbed".
	Name string
}

// PKI is a throw-away certificate authority with a server and a device certificate, written as
// PEM files (keys mode 0600) into Dir. The certificates themselves come from package devpki.
type PKI struct {
	Dir                           string
	CAFile                        string
	ServerCertFile, ServerKeyFile string
	// DeviceCertFile/DeviceKeyFile are the identity of the daemon under test (CN thingd-device).
	DeviceCertFile, DeviceKeyFile string
	// ClientCertFile/ClientKeyFile are the identity of the test-side clients (CN testbed-client),
	// so they never share a certificate or client ID with the daemon under test.
	ClientCertFile, ClientKeyFile string
	CA                            *x509.Certificate
	NotBefore, NotAfter           time.Time
	Shift                         time.Duration

	dev *devpki.PKI
}

// NewPKI makes a CA, a server certificate for localhost, 127.0.0.1 and ::1 (plus o.Hosts), and
// client-auth certificates for the device and for the test-side clients, in a test temp dir.
func NewPKI(t testing.TB, o PKIOptions) *PKI {
	t.Helper()
	p, err := MakePKI(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// MakePKI is NewPKI writing into dir (made if missing; the caller removes it).
func MakePKI(dir string, o PKIOptions) (*PKI, error) {
	if o.Name == "" {
		o.Name = "thingd testbed"
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("make the test PKI's directory: %w", err)
	}
	dev, err := devpki.New(devpki.Options{Dir: dir, Name: o.Name, Shift: o.Shift, Hosts: o.Hosts})
	if err != nil {
		return nil, fmt.Errorf("make the test PKI in %s: %w", dir, err)
	}
	p := &PKI{
		Dir:            dev.Dir,
		CAFile:         dev.CAFile,
		ServerCertFile: dev.ServerCertFile,
		ServerKeyFile:  dev.ServerKeyFile,
		CA:             dev.CA,
		NotBefore:      dev.NotBefore,
		NotAfter:       dev.NotAfter,
		Shift:          dev.Shift,
		dev:            dev,
	}
	if p.DeviceCertFile, p.DeviceKeyFile, err = p.Issue("thingd-device"); err != nil {
		return nil, err
	}
	if p.ClientCertFile, p.ClientKeyFile, err = p.Issue("testbed-client"); err != nil {
		return nil, err
	}
	return p, nil
}

// IssueDevice issues another client-auth certificate with common name cn (mosquitto takes it
// as the username) and returns its PEM files.
func (p *PKI) IssueDevice(t testing.TB, cn string) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile, err := p.Issue(cn)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// Issue is IssueDevice for callers without a testing.T.
func (p *PKI) Issue(cn string) (certFile, keyFile string, err error) {
	certFile, keyFile, err = p.dev.Issue(cn)
	if err != nil {
		return "", "", fmt.Errorf("issue a test certificate for %q in %s: %w", cn, p.Dir, err)
	}
	return certFile, keyFile, nil
}

// ClientTLS is the TLS configuration of the test-side clients: the testbed-client certificate
// and a pool holding only the test CA. With a Shift its clock runs ahead by the same amount, so
// it trusts a broker whose certificate is valid only in that future.
func (p *PKI) ClientTLS(t testing.TB) *tls.Config {
	t.Helper()
	cfg, err := p.ClientTLSFor(p.ClientCertFile, p.ClientKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// ClientTLSFor is ClientTLS with another identity (from Issue), for callers without a testing.T.
func (p *PKI) ClientTLSFor(certFile, keyFile string) (*tls.Config, error) {
	cfg, err := p.dev.ClientTLS(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("test client TLS with %s: %w", certFile, err)
	}
	return cfg, nil
}

// ServerTLS is the server side's TLS configuration (the server certificate, client
// certificates required and checked against the test CA), for in-process brokers.
func (p *PKI) ServerTLS() (*tls.Config, error) { return p.dev.ServerTLS() }

// Pool is a certificate pool holding only the test CA.
func (p *PKI) Pool() *x509.CertPool { return p.dev.Pool() }
