package tls

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"
)

// InspectCertificate shows what `thingd check` needs, including the SHA-256 ID by which
// the AWS IoT console lists certificates.
func TestInspectCertificate(t *testing.T) {
	d := newDevice(t)
	info, err := InspectCertificate(d.certFile)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(d.client.cert.Raw)
	want := CertInfo{Path: d.certFile, Subject: "CN=raspi2-test", Issuer: "CN=thingd test CA,O=thingd test",
		Serial: d.client.cert.SerialNumber.Text(16), NotBefore: d.client.cert.NotBefore, NotAfter: d.client.cert.NotAfter,
		ID: hex.EncodeToString(sum[:])}
	if info != want {
		t.Errorf("InspectCertificate =\n%+v\nwant\n%+v", info, want)
	}
	if _, err := InspectCertificate(d.certFile + ".absent"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// CheckValidity blames the clock while it is unsynced and the certificate once it is.
func TestCheckValidity(t *testing.T) {
	info := CertInfo{Path: "/etc/thingd/certs/device.cert.pem", Subject: "CN=raspi2-test",
		NotBefore: t0, NotAfter: t0.AddDate(1, 0, 0)}
	tests := []struct {
		name   string
		now    time.Time
		synced bool
		kind   Kind
		want   string
	}{
		{"valid", t0.Add(time.Hour), true, 0, ""},
		{"clock in 1970", time.Unix(0, 0), false, KindNotYetValid,
			"device certificate /etc/thingd/certs/device.cert.pem not yet valid: it starts at 2025-11-27T08:00:00Z but this device's clock says 1970-01-01T00:00:00Z — the clock is 20419 days behind and has not been synced with NTP yet"},
		{"expired", t0.AddDate(1, 0, 2), true, KindExpired,
			"device certificate /etc/thingd/certs/device.cert.pem expired at 2026-11-27T08:00:00Z and this device's clock says 2026-11-29T08:00:00Z (2 days 0h later) — the clock was synced with NTP, so the certificate really expired; create a new one in the AWS IoT console and put it at /etc/thingd/certs/device.cert.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := info.CheckValidity(tt.now, tt.synced)
			if tt.kind == 0 {
				if err != nil {
					t.Fatalf("CheckValidity = %v", err)
				}
				return
			}
			var ce *CertError
			if !errors.As(err, &ce) || ce.Kind != tt.kind {
				t.Fatalf("CheckValidity = %v, want kind %v", err, tt.kind)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("got  %s\nwant %s", err, tt.want)
			}
		})
	}
}
