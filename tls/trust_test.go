package tls

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"
	"time"
)

// amazonRootCA1 is taken from the embedded file by subject, so the test proves the pool
// thingd builds holds it rather than trusting the file's order.
func amazonRootCA1(t *testing.T) *x509.Certificate {
	t.Helper()
	for rest := amazonRootsPEM; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if c.Subject.String() == "CN=Amazon Root CA 1,O=Amazon,C=US" {
			return c
		}
	}
	t.Fatal("tls/amazonroots.pem has no Amazon Root CA 1")
	return nil
}

// trusts says whether pool anchors the certificate: a root verifies against a pool
// that contains it, and against no other.
func trusts(pool *x509.CertPool, c *x509.Certificate) bool {
	_, err := c.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: c.NotBefore.Add(time.Hour),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err == nil
}

// Trust comes from ca_file when set, else the system store, else the built-in roots;
// the source is reported for logs and `thingd check`.
func TestTrustSource(t *testing.T) {
	d := newDevice(t)
	systemPool := x509.NewCertPool()
	systemPool.AddCert(d.ca.cert)
	tests := []struct {
		name    string
		caFile  string
		system  func() (*x509.CertPool, error)
		want    Trust
		wantStr string
	}{
		{"ca_file wins over a system store", d.caFile, func() (*x509.CertPool, error) { return systemPool, nil },
			Trust{Source: TrustCAFile, File: d.caFile}, "ca_file " + d.caFile},
		{"system store", "", func() (*x509.CertPool, error) { return systemPool, nil },
			Trust{Source: TrustSystem}, "the system trust store"},
		{"empty system store", "", func() (*x509.CertPool, error) { return x509.NewCertPool(), nil },
			Trust{Source: TrustBuiltin}, BuiltinTrustName},
		{"no system store", "", func() (*x509.CertPool, error) { return nil, errors.New("no roots") },
			Trust{Source: TrustBuiltin}, BuiltinTrustName},
		{"nil pool", "", func() (*x509.CertPool, error) { return nil, nil },
			Trust{Source: TrustBuiltin}, BuiltinTrustName},
	}
	amazon := amazonRootCA1(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := d.options()
			o.CAFile, o.SystemPool = tt.caFile, tt.system
			c, err := Load(o)
			if err != nil {
				t.Fatal(err)
			}
			if c.Trust != tt.want || c.Trust.String() != tt.wantStr {
				t.Errorf("Trust = %+v %q, want %+v %q", c.Trust, c.Trust, tt.want, tt.wantStr)
			}
			if names := map[TrustSource]string{TrustCAFile: "ca_file", TrustSystem: "system", TrustBuiltin: "builtin"}; c.Trust.Source.String() != names[tt.want.Source] {
				t.Errorf("Trust.Source.String() = %q", c.Trust.Source)
			}
			builtin := tt.want.Source == TrustBuiltin
			if got := trusts(c.Config.RootCAs, amazon); got != builtin {
				t.Errorf("RootCAs trusts Amazon Root CA 1: %v, want %v", got, builtin)
			}
			if got := trusts(c.Config.RootCAs, d.ca.cert); got == builtin {
				t.Errorf("RootCAs trusts the test CA: %v, want %v", got, !builtin)
			}
		})
	}
}

// The built-in pool handed out is a copy: callers cannot widen thingd's trust.
func TestBuiltinRootsIsACopy(t *testing.T) {
	d := newDevice(t)
	p, err := BuiltinRoots()
	if err != nil {
		t.Fatal(err)
	}
	if !trusts(p, amazonRootCA1(t)) {
		t.Fatal("BuiltinRoots lacks Amazon Root CA 1")
	}
	p.AddCert(d.ca.cert)
	q, _ := BuiltinRoots()
	if trusts(q, d.ca.cert) {
		t.Error("adding to the returned pool changed the built-in one")
	}
}
