package session

import (
	"context"
	"testing"

	"thingd/internal/testbed"
)

// More QoS1 publishes than there are packet IDs, 100 in flight at a time: every Delivery
// completes with its PUBACK across the 65535 -> 1 wrap, none is mixed up with another.
func TestPacketIDWrap(t *testing.T) {
	if testing.Short() {
		t.Skip("publishes 70 000 messages")
	}
	pki := testbed.NewPKI(t, testbed.PKIOptions{})
	b := startBroker(t, pki, nil)
	var ev eventLog
	o := testOptions(t, pki, b.port, &ev)
	o.Logger = nil
	s, err := New(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	waitFor(t, "connected", s.Connected)
	const total, window = 70000, 100
	ctx := context.Background()
	inflight := make(chan *Delivery, window)
	done := 0
	settle := func() {
		d := <-inflight
		if err := d.Wait(ctx); err != nil {
			t.Fatalf("delivery %d: %v", done, err)
		}
		done++
	}
	for i := range total {
		if len(inflight) == window {
			settle()
		}
		d, err := s.Publish(ctx, "dt/wrap", 1, []byte{byte(i)})
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		inflight <- d
	}
	for len(inflight) > 0 {
		settle()
	}
	if done != total || s.State().InFlight != 0 {
		t.Fatalf("%d of %d delivered, %d still in flight", done, total, s.State().InFlight)
	}
	if _, _, _, pubs := b.hook.snapshot(); len(pubs) != total {
		t.Errorf("broker saw %d PUBLISH packets, want %d (no resends on a healthy connection)", len(pubs), total)
	}
}
