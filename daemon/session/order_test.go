package session

import (
	"context"
	"fmt"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"thingd/internal/testbed"
)

// Handlers see inbound commands in arrival order: 200 published quickly reach the handler
// as published, so a handler keeping the latest ends with the last one.
func TestInboundInArrivalOrder(t *testing.T) {
	for _, qos := range []byte{0, 1} {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			pki := testbed.NewPKI(t, testbed.PKIOptions{})
			b := startBroker(t, pki, nil)
			var ev eventLog
			var c collector
			o := testOptions(t, pki, b.port, &ev)
			o.InboxSize = 1000 // no QoS0 drop in this test
			s, err := New(o, []Subscription{{Filter: "cmd/#", QoS: qos, Handle: c.handle}})
			if err != nil {
				t.Fatal(err)
			}
			start(t, s)
			waitFor(t, "subscribed", func() bool { return s.State().Subscribed })
			const n = 200
			for i := range n {
				if err := b.srv.Publish("cmd/device/x", []byte(fmt.Sprint(i)), false, qos); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "all commands", func() bool { return len(c.got()) == n })
			for i, m := range c.got() {
				if want := fmt.Sprintf("cmd/device/x %d", i); m != want {
					t.Fatalf("message %d is %q, want %q (reordered)", i, m, want)
				}
			}
		})
	}
}

// QoS0 messages arriving while the handler is behind are dropped, counted in State, and
// logged once per dropLogEvery, not once each.
func TestInboundQoS0DropsCountedAndRateLimited(t *testing.T) {
	pki := testbed.NewPKI(t, testbed.PKIOptions{})
	b := startBroker(t, pki, nil)
	var ev eventLog
	release := make(chan struct{})
	o := testOptions(t, pki, b.port, &ev)
	o.InboxSize = 1
	core, logs := observer.New(zap.InfoLevel)
	o.Logger = zap.New(core)
	hold := func(ctx context.Context, _ string, _ []byte) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}
	s, err := New(o, []Subscription{{Filter: "cmd/#", QoS: 0, Handle: hold}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	defer close(release)
	waitFor(t, "subscribed", func() bool { return s.State().Subscribed })
	for i := range 50 {
		if err := b.srv.Publish("cmd/device/x", []byte(fmt.Sprint(i)), false, 0); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "drops counted", func() bool { return s.State().DroppedQoS0 >= 40 })
	if n := logs.FilterMessage("inbound QoS0 messages dropped: handlers are behind").Len(); n != 1 {
		t.Errorf("%d drop log lines for %d drops, want 1", n, s.State().DroppedQoS0)
	}
}
