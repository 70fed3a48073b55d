package tls

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"thingd/internal/testbed"
)

// copyDevice puts a device certificate and key where the test can later rotate them.
func copyDevice(t *testing.T, dir, certSrc, keySrc string) (certFile, keyFile string) {
	t.Helper()
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return writeFile(t, dir, "device.cert.pem", read(certSrc), 0o644),
		writeFile(t, dir, "device.private.key", read(keySrc), 0o600)
}

// Against a real mosquitto (OpenSSL, require_certificate) the configuration completes
// an MQTT CONNECT, presents a rotated certificate on the next connection without a new
// Load, and a certificate the broker does not know is explained as a refusal.
func TestMosquitto(t *testing.T) {
	if testing.Short() {
		t.Skip("starts mosquitto")
	}
	m := testbed.StartMosquitto(t, testbed.MosquittoOptions{})
	dir := t.TempDir()
	certFile, keyFile := copyDevice(t, dir, m.PKI.DeviceCertFile, m.PKI.DeviceKeyFile)
	c, err := Load(Options{Host: "localhost", Port: m.Port, CAFile: m.PKI.CAFile, CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	if err := testbed.ProbeMQTT(m.Addr, c.Config, 5*time.Second); err != nil {
		t.Fatalf("MQTT CONNECT with the device certificate: %v", c.Explain(err, true))
	}

	newCert, newKey := m.PKI.IssueDevice(t, "thingd-device-rotated")
	copyDevice(t, dir, newCert, newKey)
	if err := testbed.ProbeMQTT(m.Addr, c.Config, 5*time.Second); err != nil {
		t.Fatalf("MQTT CONNECT after rotation: %v", c.Explain(err, true))
	}
	if got := c.Certificate().Subject; !strings.HasPrefix(got, "CN=thingd-device-rotated,") {
		t.Errorf("presented %s, want the rotated certificate", got)
	}
	if log, _ := os.ReadFile(m.LogFile); !strings.Contains(string(log), "u'thingd-device-rotated'") {
		t.Errorf("mosquitto never saw the rotated identity; its log:\n%s", log)
	}

	stranger := testbed.NewPKI(t, testbed.PKIOptions{})
	copyDevice(t, dir, stranger.DeviceCertFile, stranger.DeviceKeyFile)
	conn, err := net.Dial("tcp", m.Addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.Probe(ctx, conn, 5*time.Second, true)
	var ce *CertError
	if !errors.As(err, &ce) || ce.Kind != KindRejected || ce.Alert == "" {
		t.Fatalf("a certificate from an unknown CA: %v, want KindRejected", err)
	}
	t.Logf("explained: %v", err)
}

// A broker living three years ahead (faketime), as an RTC-less Pi sees AWS after booting
// in the past: the handshake fails on the device's clock with a "N behind" explanation,
// and succeeds once the injected clock - thingd's NTP-trusted time - is right.
func TestMosquittoClockBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("starts mosquitto under faketime")
	}
	testbed.Require(t, "faketime", "faketime")
	const days = 1095
	m := testbed.StartMosquitto(t, testbed.MosquittoOptions{FakeDays: days})
	ahead := time.Duration(0)
	o := Options{Host: "localhost", Port: m.Port, CAFile: m.PKI.CAFile, CertFile: m.PKI.DeviceCertFile,
		KeyFile: m.PKI.DeviceKeyFile, Now: func() time.Time { return time.Now().Add(ahead) }}
	c, err := Load(o)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Explain(testbed.ProbeMQTT(m.Addr, c.Config, 5*time.Second), false)
	var ce *CertError
	if !errors.As(err, &ce) || ce.Kind != KindNotYetValid {
		t.Fatalf("ProbeMQTT with the clock behind = %v, want KindNotYetValid", err)
	}
	if s := ce.Skew(); s < (days-1)*24*time.Hour || s > days*24*time.Hour {
		t.Errorf("Skew = %v, want about %d days", s, days)
	}
	if !strings.Contains(err.Error(), "the clock is 1095 days behind and has not been synced with NTP yet") {
		t.Errorf("explanation: %v", err)
	}
	t.Logf("explained: %v", err)

	ahead = days * 24 * time.Hour
	if err := testbed.ProbeMQTT(m.Addr, c.Config, 5*time.Second); err != nil {
		t.Fatalf("with the trusted clock set right: %v", c.Explain(err, true))
	}
}
