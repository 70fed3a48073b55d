package testbed

import (
	"crypto/tls"
	"crypto/x509"
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
// client-auth certificates for the device and for the test-side clients.
func NewPKI(t testing.TB, o PKIOptions) *PKI {
	t.Helper()
	dev, err := devpki.New(devpki.Options{Dir: t.TempDir(), Name: "thingd testbed", Shift: o.Shift, Hosts: o.Hosts})
	if err != nil {
		t.Fatalf("make the test PKI: %v", err)
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
	p.DeviceCertFile, p.DeviceKeyFile = p.IssueDevice(t, "thingd-device")
	p.ClientCertFile, p.ClientKeyFile = p.IssueDevice(t, "testbed-client")
	return p
}

// IssueDevice issues another client-auth certificate with common name cn (mosquitto takes it
// as the username) and returns its PEM files.
func (p *PKI) IssueDevice(t testing.TB, cn string) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile, err := p.dev.Issue(cn)
	if err != nil {
		t.Fatalf("issue a test certificate for %q: %v", cn, err)
	}
	return certFile, keyFile
}

// ClientTLS is the TLS configuration of the test-side clients: the testbed-client certificate
// and a pool holding only the test CA. With a Shift its clock runs ahead by the same amount, so
// it trusts a broker whose certificate is valid only in that future.
func (p *PKI) ClientTLS(t testing.TB) *tls.Config {
	t.Helper()
	cfg, err := p.dev.ClientTLS(p.ClientCertFile, p.ClientKeyFile)
	if err != nil {
		t.Fatalf("test client TLS: %v", err)
	}
	return cfg
}

// Pool is a certificate pool holding only the test CA.
func (p *PKI) Pool() *x509.CertPool { return p.dev.Pool() }
