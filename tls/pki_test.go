package tls

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	stdtls "crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// t0 is the tests' "now": fixed, so validity windows and messages are deterministic.
var t0 = time.Date(2025, 11, 27, 8, 0, 0, 0, time.UTC)

var serials atomic.Int64

type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  []byte
}

// newCA makes a self-signed CA valid from ten years before t0 to ten years after.
func newCA(t *testing.T, cn string) *testCA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serials.Add(1)),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"thingd test"}},
		NotBefore:             t0.AddDate(-10, 0, 0),
		NotAfter:              t0.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: c, key: key, pem: pemBlock("CERTIFICATE", der)}
}

type leafOpts struct {
	cn        string
	hosts     []string // DNS names or IPs; a server certificate when set
	notBefore time.Time
	notAfter  time.Time
}

type leaf struct {
	cert    *x509.Certificate
	certPEM []byte
	keyPEM  []byte // PKCS#8
	pair    stdtls.Certificate
}

// issue signs a leaf; zero times mean valid for a year either side of t0 and of today,
// so both the injected clock and the real one (used by the servers) accept it.
func (ca *testCA) issue(t *testing.T, o leafOpts) *leaf {
	t.Helper()
	if o.notBefore.IsZero() {
		o.notBefore = t0.AddDate(-1, 0, 0)
	}
	if o.notAfter.IsZero() {
		o.notAfter = time.Now().AddDate(1, 0, 0)
	}
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serials.Add(1)),
		Subject:      pkix.Name{CommonName: o.cn},
		NotBefore:    o.notBefore,
		NotAfter:     o.notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if len(o.hosts) > 0 {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		for _, h := range o.hosts {
			if ip := net.ParseIP(h); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	l := &leaf{cert: c, certPEM: pemBlock("CERTIFICATE", der), keyPEM: pemBlock("PRIVATE KEY", p8)}
	l.pair = stdtls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: c}
	return l
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// writeFile writes data under dir and returns the absolute path.
func writeFile(t *testing.T, dir, name string, data []byte, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	// WriteFile's mode is filtered by the umask and ignored for existing files.
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// replaceFile swaps a file atomically, the way a careful rotation script does.
func replaceFile(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	tmp := writeFile(t, filepath.Dir(path), filepath.Base(path)+".new", data, mode)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// device is a complete, valid set of files: a CA, a broker certificate for localhost and
// 127.0.0.1, and a device certificate with its 0600 key.
type device struct {
	dir                       string
	ca                        *testCA
	server, client            *leaf
	caFile, certFile, keyFile string
}

func newDevice(t *testing.T) *device {
	t.Helper()
	d := &device{dir: t.TempDir(), ca: newCA(t, "thingd test CA")}
	d.server = d.ca.issue(t, leafOpts{cn: "broker", hosts: []string{"localhost", "127.0.0.1"}})
	d.client = d.ca.issue(t, leafOpts{cn: "raspi2-test"})
	d.caFile = writeFile(t, d.dir, "ca.pem", d.ca.pem, 0o644)
	d.certFile = writeFile(t, d.dir, "device.cert.pem", d.client.certPEM, 0o644)
	d.keyFile = writeFile(t, d.dir, "device.private.key", d.client.keyPEM, 0o600)
	return d
}

func (d *device) options() Options {
	return Options{Host: "localhost", Port: 8883, CAFile: d.caFile, CertFile: d.certFile, KeyFile: d.keyFile,
		Now: func() time.Time { return t0 }}
}
