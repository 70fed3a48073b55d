package testbed_test

import (
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"thingd/internal/testbed"
)

const fakeDays = 1095

// Under FakeDays chronyd serves a time about 1095 days ahead of this machine's.
func TestChronyFakeDays(t *testing.T) {
	c := testbed.StartChrony(t, testbed.ChronyOptions{FakeDays: fakeDays})
	resp := query(t, c)
	ahead := time.Until(resp.Time)
	want := fakeDays * 24 * time.Hour
	if d := (ahead - want).Abs(); d > 24*time.Hour {
		t.Fatalf("served time is %v ahead of this machine, want about %v", ahead, want)
	}
	t.Logf("chronyd under faketime serves %s, %v ahead", resp.Time.UTC().Format(time.RFC3339), ahead.Round(time.Second))
}

// A broker living 1095 days ahead with certificates valid only then accepts a client whose TLS
// clock is as far ahead, and a client with the real time refuses its certificate as not yet
// valid: the situation of a board that booted without a real-time clock.
func TestMosquittoFakeDays(t *testing.T) {
	pki := testbed.NewPKI(t, testbed.PKIOptions{Shift: fakeDays * 24 * time.Hour})
	m := testbed.StartMosquitto(t, testbed.MosquittoOptions{PKI: pki, FakeDays: fakeDays})

	ahead := pki.ClientTLS(t)
	if ahead.Time == nil || time.Until(ahead.Time()) < (fakeDays-1)*24*time.Hour {
		t.Fatal("ClientTLS of a shifted PKI does not run its clock ahead")
	}
	if err := testbed.ProbeMQTT(m.Addr, ahead, 5*time.Second); err != nil {
		t.Fatalf("handshake with the clock 1095 days ahead: %v", err)
	}
	rec := m.Subscribe(t, "future/#")
	m.Publish(t, "future/x", []byte("from 2029"), 1)
	if got := rec.Wait(t, 1, 10*time.Second); string(got[0].Payload) != "from 2029" {
		t.Fatalf("received %+v", got[0])
	}

	now := pki.ClientTLS(t)
	now.Time = nil
	err := testbed.ProbeMQTT(m.Addr, now, 5*time.Second)
	var invalid x509.CertificateInvalidError
	if !errors.As(err, &invalid) || invalid.Reason != x509.Expired {
		t.Fatalf("handshake with the real time: got %v, want a certificate validity error", err)
	}
	t.Logf("with the real time: %v", err)
}
