package testbed_test

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"thingd/internal/testbed"
)

// A client with the test CA's certificate completes TLS and an MQTT publish/subscribe round trip,
// and a subscriber keeps receiving after the broker restarts on the same port.
func TestMosquittoRoundTrip(t *testing.T) {
	m := testbed.StartMosquitto(t, testbed.MosquittoOptions{})
	if err := testbed.ProbeMQTT(m.Addr, m.PKI.ClientTLS(t), 5*time.Second); err != nil {
		t.Fatalf("mutual TLS + CONNECT with the client certificate: %v", err)
	}
	rec := m.Subscribe(t, "thingd/test/#")
	m.Publish(t, "thingd/test/a", []byte("hello"), 1)
	got := rec.Wait(t, 1, 10*time.Second)
	if got[0].Topic != "thingd/test/a" || string(got[0].Payload) != "hello" || got[0].QoS != 1 {
		t.Fatalf("received %+v, want thingd/test/a \"hello\" at QoS 1", got[0])
	}

	port := m.Port
	m.Restart(t)
	if m.Port != port {
		t.Fatalf("restart moved the broker from port %d to %d", port, m.Port)
	}
	// The subscriber reconnects on its own; publish until its re-subscription has landed.
	deadline := time.Now().Add(15 * time.Second)
	for len(rec.Messages()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("subscriber got nothing after the restart; messages: %+v", rec.Messages())
		}
		m.Publish(t, "thingd/test/b", []byte("again"), 1)
		time.Sleep(200 * time.Millisecond)
	}
	if last := rec.Messages()[1]; last.Topic != "thingd/test/b" || string(last.Payload) != "again" {
		t.Fatalf("after restart received %+v", last)
	}
	// End with the broker down: the cleanups must still stop the subscriber without a leak.
	m.Stop(t)
}

// With Persistence the broker saves its state in its own directory when it stops.
func TestMosquittoPersistence(t *testing.T) {
	m := testbed.StartMosquitto(t, testbed.MosquittoOptions{Persistence: true})
	m.Publish(t, "thingd/test/p", []byte("x"), 1)
	m.Stop(t)
	if _, err := os.Stat(filepath.Join(m.Dir, "mosquitto.db")); err != nil {
		t.Fatalf("no persistence file after stop: %v", err)
	}
	m.Start(t)
}

// The broker refuses clients that show no certificate or one from another CA, at TLS 1.2
// (during the handshake) and at TLS 1.3 (right after it, before any CONNACK).
func TestMosquittoRefusesClientWithoutValidCertificate(t *testing.T) {
	m := testbed.StartMosquitto(t, testbed.MosquittoOptions{})
	other := testbed.NewPKI(t, testbed.PKIOptions{})
	foreign, err := tls.LoadX509KeyPair(other.DeviceCertFile, other.DeviceKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, tc := range []struct {
			name  string
			certs []tls.Certificate
		}{
			{"no certificate", nil},
			{"certificate from another CA", []tls.Certificate{foreign}},
		} {
			t.Run(tls.VersionName(version)+"/"+tc.name, func(t *testing.T) {
				cfg := m.PKI.ClientTLS(t)
				cfg.MinVersion, cfg.MaxVersion = version, version
				if err := testbed.ProbeMQTT(m.Addr, cfg, 5*time.Second); err != nil {
					t.Fatalf("control: the test client's own certificate is refused: %v", err)
				}
				cfg.Certificates = tc.certs
				err := testbed.ProbeMQTT(m.Addr, cfg, 5*time.Second)
				if err == nil {
					t.Fatal("broker accepted an MQTT connection without a valid client certificate")
				}
				if ce := (*testbed.ConnackError)(nil); errors.As(err, &ce) {
					t.Fatalf("refused only at the MQTT level (%v), want the TLS layer to refuse", err)
				}
				t.Logf("refused as expected: %v", err)
			})
		}
	}
}
