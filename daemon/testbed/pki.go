package testbed

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
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
// PEM files (keys mode 0600) into Dir.
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

	caKey *ecdsa.PrivateKey
	mu    sync.Mutex
	n     int
}

// NewPKI makes a CA, a server certificate for localhost, 127.0.0.1 and ::1 (plus o.Hosts), and
// client-auth certificates for the device and for the test-side clients.
func NewPKI(t testing.TB, o PKIOptions) *PKI {
	t.Helper()
	now := time.Now()
	p := &PKI{
		Dir:       t.TempDir(),
		NotBefore: now.Add(o.Shift - time.Hour).Truncate(time.Second),
		NotAfter:  now.Add(o.Shift + 30*24*time.Hour).Truncate(time.Second),
		Shift:     o.Shift,
	}
	key := newKey(t)
	tmpl := p.template(t, "thingd testbed CA")
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create test CA certificate: %v", err)
	}
	if p.CA, err = x509.ParseCertificate(der); err != nil {
		t.Fatalf("parse test CA certificate: %v", err)
	}
	p.caKey = key
	p.CAFile = filepath.Join(p.Dir, "ca.crt")
	writePEM(t, p.CAFile, "CERTIFICATE", der, 0o644)

	srv := p.template(t, "localhost")
	srv.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	srv.DNSNames = []string{"localhost"}
	srv.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	for _, h := range o.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			srv.IPAddresses = append(srv.IPAddresses, ip)
		} else {
			srv.DNSNames = append(srv.DNSNames, h)
		}
	}
	p.ServerCertFile, p.ServerKeyFile = p.issue(t, srv, "server")
	p.DeviceCertFile, p.DeviceKeyFile = p.IssueDevice(t, "thingd-device")
	p.ClientCertFile, p.ClientKeyFile = p.IssueDevice(t, "testbed-client")
	return p
}

// IssueDevice issues another client-auth certificate with common name cn (mosquitto takes it
// as the username) and returns its PEM files.
func (p *PKI) IssueDevice(t testing.TB, cn string) (certFile, keyFile string) {
	t.Helper()
	tmpl := p.template(t, cn)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	p.mu.Lock()
	p.n++
	name := fmt.Sprintf("device-%d", p.n)
	p.mu.Unlock()
	return p.issue(t, tmpl, name)
}

// ClientTLS is the TLS configuration of the test-side clients: the testbed-client certificate
// and a pool holding only the test CA. With a Shift its clock runs ahead by the same amount, so
// it trusts a broker whose certificate is valid only in that future.
func (p *PKI) ClientTLS(t testing.TB) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(p.ClientCertFile, p.ClientKeyFile)
	if err != nil {
		t.Fatalf("load test client certificate %s: %v", p.ClientCertFile, err)
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      p.Pool(),
		MinVersion:   tls.VersionTLS12,
	}
	if p.Shift != 0 {
		shift := p.Shift
		cfg.Time = func() time.Time { return time.Now().Add(shift) }
	}
	return cfg
}

// Pool is a certificate pool holding only the test CA.
func (p *PKI) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.CA)
	return pool
}

func (p *PKI) template(t testing.TB, cn string) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatalf("draw a certificate serial number: %v", err)
	}
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"thingd testbed"}},
		NotBefore:    p.NotBefore,
		NotAfter:     p.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
}

func (p *PKI) issue(t testing.TB, tmpl *x509.Certificate, name string) (certFile, keyFile string) {
	t.Helper()
	key := newKey(t)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.CA, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatalf("create %s certificate: %v", name, err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("encode %s key: %v", name, err)
	}
	certFile = filepath.Join(p.Dir, name+".crt")
	keyFile = filepath.Join(p.Dir, name+".key")
	writePEM(t, certFile, "CERTIFICATE", der, 0o644)
	writePEM(t, keyFile, "PRIVATE KEY", kder, 0o600)
	return certFile, keyFile
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate P-256 key: %v", err)
	}
	return key
}

func writePEM(t testing.TB, path, typ string, der []byte, mode os.FileMode) {
	t.Helper()
	data := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	// WriteFile applies the umask; make the mode exact, since tests check key permissions.
	if err := os.Chmod(path, mode); err != nil {
		t.Fatalf("chmod %s: %v", path, err)
	}
}
