package devpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Options shapes the certificates New makes.
type Options struct {
	// Dir receives the PEM files; it must exist. Keys are written mode 0600, certificates 0644.
	Dir string
	// Name is the organization in every subject and the start of the CA's common name
	// ("<Name> CA"); default "thingd dev".
	Name string
	// Shift moves every validity window into the future (e.g. 1095*24h): the certificates are
	// valid from now+Shift-1h to now+Shift+30d, so only a world whose clock is ahead accepts them.
	Shift time.Duration
	// Hosts are extra DNS names or IP addresses for the server certificate.
	Hosts []string
	// Now is the time the validity window is based on; default time.Now.
	Now func() time.Time
}

// PKI is a CA and the server certificate it signed, written into Dir as ca.crt, server.crt and
// server.key. Issue adds client certificates.
type PKI struct {
	Dir                           string
	CAFile                        string
	ServerCertFile, ServerKeyFile string
	CA                            *x509.Certificate
	NotBefore, NotAfter           time.Time
	Shift                         time.Duration

	name  string
	caKey *ecdsa.PrivateKey
	mu    sync.Mutex
	n     int
}

// New makes a CA and a server certificate for localhost, 127.0.0.1 and ::1 (plus o.Hosts).
// Every key is ECDSA P-256 in PKCS#8.
func New(o Options) (*PKI, error) {
	if o.Dir == "" {
		return nil, fmt.Errorf("devpki: no directory given for the certificates")
	}
	if o.Name == "" {
		o.Name = "thingd dev"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	now := o.Now()
	p := &PKI{
		Dir:       o.Dir,
		NotBefore: now.Add(o.Shift - time.Hour).Truncate(time.Second),
		NotAfter:  now.Add(o.Shift + 30*24*time.Hour).Truncate(time.Second),
		Shift:     o.Shift,
		name:      o.Name,
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	tmpl, err := p.template(o.Name + " CA")
	if err != nil {
		return nil, err
	}
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("devpki: create the CA certificate: %w", err)
	}
	if p.CA, err = x509.ParseCertificate(der); err != nil {
		return nil, fmt.Errorf("devpki: parse the CA certificate: %w", err)
	}
	p.caKey = key
	p.CAFile = filepath.Join(p.Dir, "ca.crt")
	if err := writePEM(p.CAFile, "CERTIFICATE", der, 0o644); err != nil {
		return nil, err
	}

	srv, err := p.template("localhost")
	if err != nil {
		return nil, err
	}
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
	if p.ServerCertFile, p.ServerKeyFile, err = p.issue(srv, "server"); err != nil {
		return nil, err
	}
	return p, nil
}

// Issue makes a client-auth certificate with common name cn (mosquitto takes it as the
// username) and returns its PEM files, named device-N.crt and device-N.key.
func (p *PKI) Issue(cn string) (certFile, keyFile string, err error) {
	tmpl, err := p.template(cn)
	if err != nil {
		return "", "", err
	}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	p.mu.Lock()
	p.n++
	name := fmt.Sprintf("device-%d", p.n)
	p.mu.Unlock()
	return p.issue(tmpl, name)
}

// Pool is a certificate pool holding only this CA.
func (p *PKI) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.CA)
	return pool
}

func (p *PKI) template(cn string) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("devpki: draw a certificate serial number: %w", err)
	}
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{p.name}},
		NotBefore:    p.NotBefore,
		NotAfter:     p.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}, nil
}

func (p *PKI) issue(tmpl *x509.Certificate, name string) (certFile, keyFile string, err error) {
	key, err := newKey()
	if err != nil {
		return "", "", err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.CA, &key.PublicKey, p.caKey)
	if err != nil {
		return "", "", fmt.Errorf("devpki: create the %s certificate: %w", name, err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", fmt.Errorf("devpki: encode the %s key: %w", name, err)
	}
	certFile = filepath.Join(p.Dir, name+".crt")
	keyFile = filepath.Join(p.Dir, name+".key")
	if err := writePEM(certFile, "CERTIFICATE", der, 0o644); err != nil {
		return "", "", err
	}
	if err := writePEM(keyFile, "PRIVATE KEY", kder, 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

func newKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devpki: generate a P-256 key: %w", err)
	}
	return key, nil
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	data := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, data, mode); err != nil {
		return fmt.Errorf("devpki: write %s: %w (is the directory writable?)", path, err)
	}
	// WriteFile applies the umask; make the mode exact, since tests check key permissions.
	if err := os.Chmod(path, mode); err != nil {
		return fmt.Errorf("devpki: chmod %s: %w", path, err)
	}
	return nil
}
