package pubsub

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"testing"

	"thingd/internal/testbed"
)

// simpleTLS stands in for the tls package: it loads the files and names the one it cannot read.
func simpleTLS(ca, cert, key, _ string, _ int) (*tls.Config, error) {
	for _, f := range []string{cert, key} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("device file %s: %w", f, err)
		}
	}
	kp, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, err
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		return nil, fmt.Errorf("CA file %s: %w", ca, err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &tls.Config{Certificates: []tls.Certificate{kp}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// The sample's round trip against a real mosquitto with mutual TLS: three messages are
// published, all three come back and are printed like the sample does, exit code 0.
func TestPubSubRoundTrip(t *testing.T) {
	m := testbed.StartMosquitto(t, testbed.MosquittoOptions{})
	var out, errb bytes.Buffer
	code := PubSub(context.Background(), []string{
		"--endpoint", "127.0.0.1", "--port_override", fmt.Sprint(m.Port),
		"--cert", m.PKI.DeviceCertFile, "--key", m.PKI.DeviceKeyFile, "--ca_file", m.PKI.CAFile,
		"--count", "3",
	}, &out, &errb, simpleTLS)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	got := out.String()
	for n := 1; n <= 3; n++ {
		for _, want := range []string{
			fmt.Sprintf("Publishing message to topic 'test/topic': Hello World %d\n", n),
			fmt.Sprintf("Received message from topic 'test/topic': Hello World %d\n", n),
		} {
			if strings.Count(got, want) != 1 {
				t.Errorf("stdout has %q %d times, want once", want, strings.Count(got, want))
			}
		}
	}
	for _, want := range []string{"Connecting to 127.0.0.1 with client ID 'test-", "Subscribing to topic 'test/topic'...",
		"Sending 3 message(s)", "3 message(s) received.", "Client Stopped!"} {
		if !strings.Contains(got, want) {
			t.Errorf("stdout lacks %q", want)
		}
	}
	if strings.Count(got, "Received message") != 3 {
		t.Errorf("stdout:\n%s\nwant exactly three received messages", got)
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("stdout:\n%s\nstderr:\n%s", got, errb.String())
	}
}

// A missing certificate exits non-zero before any network traffic, naming the file.
func TestPubSubMissingCert(t *testing.T) {
	missing := t.TempDir() + "/device.pem.crt"
	var out, errb bytes.Buffer
	code := PubSub(context.Background(), []string{"--endpoint", "127.0.0.1", "--cert", missing, "--key", "k"},
		&out, &errb, simpleTLS)
	if code != 1 || !strings.Contains(errb.String(), missing) {
		t.Fatalf("exit %d, stderr %q: want 1 and the path %s", code, errb.String(), missing)
	}
	if strings.Contains(out.String(), "Connecting") {
		t.Errorf("tried to connect: %q", out.String())
	}
}

func TestPubSubUsage(t *testing.T) {
	var out, errb bytes.Buffer
	called := false
	code := PubSub(context.Background(), []string{"--cert", "c", "--key", "k"}, &out, &errb,
		func(string, string, string, string, int) (*tls.Config, error) { called = true; return nil, nil })
	if code != 2 || called || !strings.Contains(errb.String(), "--endpoint is required") {
		t.Fatalf("exit %d, tls called %v, stderr %q: want 2 and the missing flag named", code, called, errb.String())
	}
	errb.Reset()
	if code := PubSub(context.Background(), []string{"-h"}, &out, &errb, simpleTLS); code != 0 || !strings.Contains(errb.String(), "proxy_host") {
		t.Errorf("-h: exit %d, stderr %q", code, errb.String())
	}
}

// An interrupt while the broker is unreachable ends the run with exit 1 and says why.
func TestPubSubInterrupted(t *testing.T) {
	pki := testbed.NewPKI(t, testbed.PKIOptions{})
	port := testbed.FreeTCPPort(t) // nothing listens there
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb bytes.Buffer
	w := &cancelOnWrite{w: &errb, needle: "Connection failed with exception", cancel: cancel}
	code := PubSub(ctx, []string{"--endpoint", "127.0.0.1", "--port_override", fmt.Sprint(port),
		"--cert", pki.DeviceCertFile, "--key", pki.DeviceKeyFile, "--ca_file", pki.CAFile}, &out, w, simpleTLS)
	if code != 1 || !strings.Contains(errb.String(), "interrupted") || !strings.Contains(errb.String(), "connection refused") {
		t.Fatalf("exit %d, stderr %q: want 1, interrupted, and the refused connection", code, errb.String())
	}
}

// cancelOnWrite cancels once needle has been written.
type cancelOnWrite struct {
	w      *bytes.Buffer
	needle string
	cancel context.CancelFunc
}

func (c *cancelOnWrite) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if strings.Contains(c.w.String(), c.needle) {
		c.cancel()
	}
	return n, err
}
