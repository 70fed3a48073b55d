package testbed_test

import (
	"crypto/x509"
	"testing"
	"time"

	"thingd/internal/devpki"
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
		pair, err := devpki.LoadPair(c.cert, c.key)
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
