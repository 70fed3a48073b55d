package devpki_test

import (
	"crypto/x509"
	"os"
	"strings"
	"testing"
	"time"

	"thingd/internal/devpki"
)

const shift3y = 1095 * 24 * time.Hour

// Every certificate chains to the CA for the names and usages brokers and clients check, keys
// are 0600, and a Shift makes the certificates valid only in that future.
func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name  string
		shift time.Duration
	}{
		{"now", 0},
		{"shifted 1095d", shift3y},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := devpki.New(devpki.Options{Dir: t.TempDir(), Shift: tc.shift, Hosts: []string{"broker.test", "10.9.8.7"}})
			if err != nil {
				t.Fatal(err)
			}
			devCert, devKey, err := p.Issue("demo-pi")
			if err != nil {
				t.Fatal(err)
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
				{devCert, devKey, "", x509.ExtKeyUsageClientAuth},
			} {
				fi, err := os.Stat(c.key)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("%s has mode %v, want 0600", c.key, fi.Mode().Perm())
				}
				pair, err := devpki.LoadPair(c.cert, c.key)
				if err != nil {
					t.Fatalf("load %s: %v", c.cert, err)
				}
				opts := x509.VerifyOptions{Roots: p.Pool(), DNSName: c.host, CurrentTime: then,
					KeyUsages: []x509.ExtKeyUsage{c.usage}}
				if _, err := pair.Leaf.Verify(opts); err != nil {
					t.Errorf("%s for %q at now+%v: %v", c.cert, c.host, tc.shift, err)
				}
				if tc.shift > 0 {
					opts.CurrentTime = time.Now()
					if _, err := pair.Leaf.Verify(opts); err == nil {
						t.Errorf("%s verifies at the real time, want it valid only from now+%v", c.cert, tc.shift)
					}
				}
			}
			if got := pairCN(t, devCert, devKey); got != "demo-pi" {
				t.Errorf("issued certificate has CN %q, want demo-pi", got)
			}
		})
	}
}

// Each issued certificate gets its own files, so a second identity never overwrites the first.
func TestIssueDistinctFiles(t *testing.T) {
	p, err := devpki.New(devpki.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	c1, k1, err := p.Issue("one")
	if err != nil {
		t.Fatal(err)
	}
	c2, k2, err := p.Issue("two")
	if err != nil {
		t.Fatal(err)
	}
	if c1 == c2 || k1 == k2 {
		t.Fatalf("two identities share files: %s %s / %s %s", c1, k1, c2, k2)
	}
	if pairCN(t, c1, k1) != "one" || pairCN(t, c2, k2) != "two" {
		t.Errorf("issued certificates have CNs %q and %q, want one and two", pairCN(t, c1, k1), pairCN(t, c2, k2))
	}
}

// A directory that cannot be written is an error naming the file, not a panic.
func TestNewUnwritableDir(t *testing.T) {
	_, err := devpki.New(devpki.Options{Dir: "/nonexistent/devpki"})
	if err == nil {
		t.Fatal("New into a missing directory succeeded")
	}
	if want := "/nonexistent/devpki/ca.crt"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %s", err, want)
	}
}

func pairCN(t *testing.T, cert, key string) string {
	t.Helper()
	pair, err := devpki.LoadPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return pair.Leaf.Subject.CommonName
}
