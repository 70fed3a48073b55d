package testbed_test

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
	"time"

	"thingd/internal/testbed"
)

const shift3y = 1095 * 24 * time.Hour

// The PKI's certificates chain to its CA for the names and usages tests rely on, keys are 0600,
// and a Shift makes them valid only in that future.
func TestPKI(t *testing.T) {
	for _, tc := range []struct {
		name  string
		shift time.Duration
	}{
		{"now", 0},
		{"shifted 1095d", shift3y},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testbed.NewPKI(t, testbed.PKIOptions{Shift: tc.shift, Hosts: []string{"broker.test", "10.9.8.7"}})
			for _, f := range []string{p.ServerKeyFile, p.DeviceKeyFile, p.ClientKeyFile} {
				fi, err := os.Stat(f)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
				}
			}
			then := time.Now().Add(tc.shift)
			for _, c := range []struct {
				cert, key, host string
				usage           x509.ExtKeyUsage
			}{
				{p.ServerCertFile, p.ServerKeyFile, "localhost", x509.ExtKeyUsageServerAuth},
				{p.ServerCertFile, p.ServerKeyFile, "127.0.0.1", x509.ExtKeyUsageServerAuth},
				{p.ServerCertFile, p.ServerKeyFile, "::1", x509.ExtKeyUsageServerAuth},
				{p.ServerCertFile, p.ServerKeyFile, "broker.test", x509.ExtKeyUsageServerAuth},
				{p.ServerCertFile, p.ServerKeyFile, "10.9.8.7", x509.ExtKeyUsageServerAuth},
				{p.DeviceCertFile, p.DeviceKeyFile, "", x509.ExtKeyUsageClientAuth},
				{p.ClientCertFile, p.ClientKeyFile, "", x509.ExtKeyUsageClientAuth},
			} {
				pair, err := tls.LoadX509KeyPair(c.cert, c.key)
				if err != nil {
					t.Fatalf("load %s: %v", c.cert, err)
				}
				leaf := pair.Leaf
				opts := x509.VerifyOptions{Roots: p.Pool(), DNSName: c.host, CurrentTime: then,
					KeyUsages: []x509.ExtKeyUsage{c.usage}}
				if _, err := leaf.Verify(opts); err != nil {
					t.Errorf("%s for %q at now+%v: %v", c.cert, c.host, tc.shift, err)
				}
				if tc.shift > 0 {
					opts.CurrentTime = time.Now()
					if _, err := leaf.Verify(opts); err == nil {
						t.Errorf("%s verifies at the real time, want it valid only from now+%v", c.cert, tc.shift)
					}
				}
			}
		})
	}
}
