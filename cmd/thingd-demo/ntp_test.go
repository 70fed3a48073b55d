package main

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beevik/ntp"
)

// A real NTP client accepts the answer: Validate passes (stratum, leap, dispersion, freshness,
// origin check), the root distance is within thingd's bound and the offset is that of this
// machine's own clock. Every answered query is reported.
func TestNTPServerPassesValidate(t *testing.T) {
	var queries atomic.Int32
	s, err := startNTP("127.0.0.1:0", func(net.Addr) { queries.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	for _, version := range []int{3, 4} {
		resp, err := ntp.QueryWithOptions(s.Addr(), ntp.QueryOptions{Version: version, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatalf("v%d query %s: %v", version, s.Addr(), err)
		}
		if err := resp.Validate(); err != nil {
			t.Fatalf("v%d Validate: %v (response %+v)", version, err, resp)
		}
		if resp.Stratum != ntpStratum || resp.Leap != ntp.LeapNoWarning || resp.Version != version {
			t.Errorf("v%d: stratum %d leap %d version %d, want %d, 0, %d", version, resp.Stratum, resp.Leap, resp.Version, ntpStratum, version)
		}
		if resp.RootDistance > 1500*time.Millisecond {
			t.Errorf("v%d: root distance %v exceeds thingd's 1.5s bound", version, resp.RootDistance)
		}
		if off := resp.ClockOffset.Abs(); off > time.Second {
			t.Errorf("v%d: offset %v from our own clock, want about 0", version, resp.ClockOffset)
		}
		if resp.ReferenceString() != "127.0.0.1" {
			t.Errorf("v%d: reference %q, want 127.0.0.1", version, resp.ReferenceString())
		}
	}
	if got := queries.Load(); got != 2 {
		t.Errorf("reported %d queries, want 2", got)
	}
}

// Only client requests get an answer; short packets, server replies and unknown versions are
// ignored, so the server never answers its own kind (no loops) or garbage.
func TestNTPAnswerIgnoresNonClients(t *testing.T) {
	now := func() time.Time { return time.Unix(1_800_000_000, 500_000_000) }
	client := func(b0 byte) []byte { p := make([]byte, ntpPacketLen); p[0] = b0; return p }
	for _, tc := range []struct {
		name string
		req  []byte
		ok   bool
	}{
		{"v4 client", client(4<<3 | 3), true},
		{"v3 client", client(3<<3 | 3), true},
		{"short", client(4<<3 | 3)[:47], false},
		{"server reply", client(4<<3 | 4), false},
		{"broadcast", client(4<<3 | 5), false},
		{"version 0", client(0<<3 | 3), false},
		{"version 5", client(5<<3 | 3), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := ntpAnswer(tc.req, now(), now); ok != tc.ok {
				t.Errorf("answered = %v, want %v", ok, tc.ok)
			}
		})
	}
}

// The reply echoes the client's transmit timestamp as origin and encodes times as NTP's
// seconds since 1900.
func TestNTPAnswerFields(t *testing.T) {
	at := time.Unix(1_800_000_000, 250_000_000)
	req := make([]byte, ntpPacketLen)
	req[0] = 4<<3 | 3
	copy(req[40:], []byte{1, 2, 3, 4, 5, 6, 7, 8})
	resp, ok := ntpAnswer(req, at, func() time.Time { return at })
	if !ok {
		t.Fatal("no answer to a v4 client request")
	}
	if resp[0] != 4<<3|4 {
		t.Errorf("first byte %#x, want leap 0, version 4, mode 4", resp[0])
	}
	if string(resp[24:32]) != string(req[40:48]) {
		t.Errorf("origin %x, want the request's transmit time %x", resp[24:32], req[40:48])
	}
	wantSecs := uint32(1_800_000_000 + ntpEpoch)
	if got := uint32(ntpTimestamp(at) >> 32); got != wantSecs {
		t.Errorf("seconds %d, want %d", got, wantSecs)
	}
	if got := uint32(ntpTimestamp(at)); got != 1<<30 {
		t.Errorf("fraction of .25 s = %#x, want %#x", got, 1<<30)
	}
}
