package tls

import (
	"crypto/x509"
	"errors"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func pool(cas ...*testCA) *x509.CertPool {
	p := x509.NewCertPool()
	for _, ca := range cas {
		p.AddCert(ca.cert)
	}
	return p
}

// Port 443 offers x-amzn-mqtt-ca in the ClientHello (AWS IoT routes MQTT on 443 by it);
// other ports offer no ALPN at all.
func TestALPNOnTheWire(t *testing.T) {
	for _, tt := range []struct {
		port int
		want []string
	}{{443, []string{AWSIoTALPN}}, {8883, nil}} {
		t.Run(strconv.Itoa(tt.port), func(t *testing.T) {
			d := newDevice(t)
			b := startBroker(t, d.server.pair, pool(d.ca), []string{AWSIoTALPN})
			o := d.options()
			o.Port = tt.port
			c, err := Load(o)
			if err != nil {
				t.Fatal(err)
			}
			state, err := dial(t, c.Config, b.addr)
			if err != nil {
				t.Fatal(err)
			}
			h := b.next(t)
			if !slices.Equal(h.protos, tt.want) {
				t.Errorf("ClientHello offered %q, want %q", h.protos, tt.want)
			}
			if want := strings.Join(tt.want, ""); state.NegotiatedProtocol != want {
				t.Errorf("negotiated %q, want %q", state.NegotiatedProtocol, want)
			}
			if h.serial != d.client.cert.SerialNumber.Text(16) {
				t.Errorf("broker verified client serial %q, want the device's", h.serial)
			}
		})
	}
}

// A certificate replaced on disk is presented on the next connection without a new
// Load; a half-done or broken rotation keeps the last good pair and warns once.
func TestRotation(t *testing.T) {
	d := newDevice(t)
	b := startBroker(t, d.server.pair, pool(d.ca), nil)
	core, logs := observer.New(zapcore.InfoLevel)
	o := d.options()
	o.Logger = zap.New(core)
	c, err := Load(o)
	if err != nil {
		t.Fatal(err)
	}
	connect := func(step string, want *leaf) {
		t.Helper()
		if _, err := dial(t, c.Config, b.addr); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		got, wantSerial := b.next(t).serial, want.cert.SerialNumber.Text(16)
		if got != wantSerial {
			t.Fatalf("%s: broker saw serial %s, want %s", step, got, wantSerial)
		}
		if c.Certificate().Serial != wantSerial {
			t.Fatalf("%s: Certificate().Serial = %s, want %s", step, c.Certificate().Serial, wantSerial)
		}
	}
	connect("first connection", d.client)

	rotated := d.ca.issue(t, leafOpts{cn: "raspi2-test"})
	replaceFile(t, d.certFile, rotated.certPEM, 0o644)
	replaceFile(t, d.keyFile, rotated.keyPEM, 0o600)
	connect("after atomic rotation", rotated)
	if logs.FilterMessage("device certificate reloaded").Len() != 1 {
		t.Error("the reload was not logged")
	}

	// Half-way: a new certificate whose key has not arrived yet.
	next := d.ca.issue(t, leafOpts{cn: "raspi2-test"})
	writeFile(t, d.dir, "device.cert.pem", next.certPEM, 0o644)
	connect("certificate without its key", rotated)
	connect("still without its key", rotated)
	warned := logs.FilterMessage("device certificate files cannot be used; keeping the previous certificate")
	if warned.Len() != 1 {
		t.Fatalf("%d warnings about the half rotation, want exactly 1", warned.Len())
	}
	if err := warned.All()[0].ContextMap()["error"]; !strings.Contains(err.(string), "does not match") {
		t.Errorf("warning says %v", err)
	}

	writeFile(t, d.dir, "device.private.key", next.keyPEM, 0o600)
	connect("key arrived, in place", next)

	if err := os.Remove(d.certFile); err != nil {
		t.Fatal(err)
	}
	connect("certificate file deleted", next)
}

// A broker certificate dated in the future - an RTC-less Pi booting in the past - is
// explained with both times, the gap and the NTP hint; a synced clock blames the
// certificate instead.
func TestExplainNotYetValid(t *testing.T) {
	d := newDevice(t)
	future := d.ca.issue(t, leafOpts{cn: "broker", hosts: []string{"localhost"},
		notBefore: t0.AddDate(0, 0, 1095), notAfter: t0.AddDate(0, 0, 1095+365)})
	b := startBroker(t, future.pair, nil, nil)
	c, err := Load(d.options())
	if err != nil {
		t.Fatal(err)
	}
	_, herr := dial(t, c.Config, b.addr)
	b.next(t)
	if herr == nil {
		t.Fatal("the handshake accepted a certificate that is not yet valid")
	}
	err = c.Explain(herr, false)
	var ce *CertError
	if !errors.As(err, &ce) || ce.Kind != KindNotYetValid {
		t.Fatalf("Explain = %v, want KindNotYetValid", err)
	}
	if ce.Skew() != 1095*24*time.Hour || !ce.Now.Equal(t0) || !ce.NotBefore.Equal(future.cert.NotBefore) || ce.ClockSynced {
		t.Errorf("fields: skew %v now %v notBefore %v synced %v", ce.Skew(), ce.Now, ce.NotBefore, ce.ClockSynced)
	}
	want := "server certificate not yet valid: it starts at 2028-11-26T08:00:00Z but this device's clock says 2025-11-27T08:00:00Z" +
		" — the clock is 1095 days behind and has not been synced with NTP yet; thingd syncs NTP before connecting (see clock.servers)"
	if err.Error() != want {
		t.Errorf("Explain:\n got %s\nwant %s", err, want)
	}
	if !errors.Is(err, herr) {
		t.Error("the explanation does not wrap the handshake error")
	}
	if synced := c.Explain(herr, true).Error(); !strings.Contains(synced, "the clock was synced with NTP, so the certificate starts 1095 days in the future") {
		t.Errorf("synced clock: %s", synced)
	}
}

// The other ways a broker's certificate fails are explained with their own fields.
func TestExplainHandshakeFailures(t *testing.T) {
	d := newDevice(t)
	stranger := newCA(t, "stranger CA")
	tests := []struct {
		name    string
		server  *leaf
		host    string
		synced  bool
		kind    Kind
		want    string
		trusted bool // the server demands a client certificate from a CA that is not the device's
	}{
		{"expired, clock synced", d.ca.issue(t, leafOpts{cn: "broker", hosts: []string{"localhost"},
			notBefore: t0.AddDate(-2, 0, 0), notAfter: t0.AddDate(0, 0, -3)}), "localhost", true, KindExpired,
			"server certificate expired at 2025-11-24T08:00:00Z and this device's clock says 2025-11-27T08:00:00Z (3 days 0h later) — the clock was synced with NTP, so the broker's certificate really expired", false},
		{"expired, clock unsynced", d.ca.issue(t, leafOpts{cn: "broker", hosts: []string{"localhost"},
			notBefore: t0.AddDate(-2, 0, 0), notAfter: t0.Add(-90 * time.Minute)}), "localhost", false, KindExpired,
			"(1h30m0s later) — the clock has not been synced with NTP yet and may be ahead", false},
		{"unknown authority", stranger.issue(t, leafOpts{cn: "broker", hosts: []string{"localhost"}}), "localhost", true, KindUnknownAuthority,
			"server certificate for localhost (CN=broker, issued by CN=stranger CA,O=thingd test) was signed by an authority not in ca_file " + d.caFile +
				"; set mqtt.ca_file to the CA that signed the broker's certificate", false},
		{"wrong host", d.server, "a1b2c3d4e5-ats.iot.ap-northeast-1.amazonaws.com", true, KindHostname,
			"server certificate is for localhost, 127.0.0.1, not a1b2c3d4e5-ats.iot.ap-northeast-1.amazonaws.com; check mqtt.endpoint", false},
		{"device certificate refused", d.server, "localhost", true, KindRejected,
			`the broker localhost refused the TLS handshake with "unknown certificate authority": it does not accept this device's certificate`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var clientCAs *x509.CertPool
			if tt.trusted {
				clientCAs = pool(stranger)
			}
			b := startBroker(t, tt.server.pair, clientCAs, nil)
			o := d.options()
			o.Host = tt.host
			c, err := Load(o)
			if err != nil {
				t.Fatal(err)
			}
			_, herr := dial(t, c.Config, b.addr)
			b.next(t)
			if herr == nil {
				t.Fatal("the connection succeeded")
			}
			err = c.Explain(herr, tt.synced)
			var ce *CertError
			if !errors.As(err, &ce) || ce.Kind != tt.kind {
				t.Fatalf("Explain(%v) = %v, want kind %v", herr, err, tt.kind)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Explain:\n got %s\nwant %s", err, tt.want)
			}
			if ce.Trust != c.Trust || ce.ClockSynced != tt.synced {
				t.Errorf("Trust %v ClockSynced %v", ce.Trust, ce.ClockSynced)
			}
		})
	}
}

// A port that answers without TLS is named as such; errors that are not about TLS pass
// through untouched, and explaining twice changes nothing.
func TestExplainOther(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		conn.Write([]byte("HTTP/1.0 400 Bad Request\r\n\r\n"))
		conn.Close()
	}()
	d := newDevice(t)
	c, err := Load(d.options())
	if err != nil {
		t.Fatal(err)
	}
	_, herr := dial(t, c.Config, ln.Addr().String())
	var ce *CertError
	if err := c.Explain(herr, true); !errors.As(err, &ce) || ce.Kind != KindNotTLS || !strings.Contains(err.Error(), "check mqtt.port") {
		t.Errorf("plain-text port: Explain(%v) = %v", herr, err)
	}
	plain := errors.New("connection refused")
	if got := c.Explain(plain, true); got != plain {
		t.Errorf("Explain(unrelated) = %v, want it unchanged", got)
	}
	if c.Explain(nil, true) != nil {
		t.Error("Explain(nil) != nil")
	}
	once := c.Explain(herr, false)
	if twice := c.Explain(once, true); twice != once {
		t.Error("explaining an explanation wrapped it again")
	}
}
