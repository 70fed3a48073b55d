package testbed_test

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"thingd/internal/testbed"
)

// NewPKI is devpki (whose tests cover names, usages, key modes and Shift) plus two client
// identities: the daemon's and the test side's, which must never be the same certificate.
func TestPKIIdentities(t *testing.T) {
	const shift = 1095 * 24 * time.Hour
	p := testbed.NewPKI(t, testbed.PKIOptions{Shift: shift})
	cn := map[string]string{}
	for _, c := range []struct{ cert, key, want string }{
		{p.DeviceCertFile, p.DeviceKeyFile, "thingd-device"},
		{p.ClientCertFile, p.ClientKeyFile, "testbed-client"},
	} {
		pair, err := loadPair(c.cert, c.key)
		if err != nil {
			t.Fatalf("load %s: %v", c.cert, err)
		}
		opts := x509.VerifyOptions{Roots: p.Pool(), CurrentTime: time.Now().Add(shift),
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		if _, err := pair.Leaf.Verify(opts); err != nil {
			t.Errorf("%s at now+%v: %v", c.cert, shift, err)
		}
		cn[c.cert] = pair.Leaf.Subject.CommonName
		if got := pair.Leaf.Subject.CommonName; got != c.want {
			t.Errorf("%s has CN %q, want %q", c.cert, got, c.want)
		}
	}
	if p.DeviceCertFile == p.ClientCertFile || cn[p.DeviceCertFile] == cn[p.ClientCertFile] {
		t.Errorf("the daemon and the test clients share an identity: %v", cn)
	}
}

// loadPair loads a key pair with its parsed leaf: in a go 1.22 module LoadX509KeyPair leaves
// Leaf nil (GODEBUG x509keypairleaf=0).
func loadPair(cert, key string) (tls.Certificate, error) {
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err == nil && pair.Leaf == nil {
		pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0])
	}
	return pair, err
}
