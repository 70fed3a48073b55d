package session

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"thingd/internal/testbed"
)

// Publish and subscribe through a real (in-process) broker: the own message comes back to
// the subscription, the Delivery completes on PUBACK, and Run returns nil after a clean
// DISCONNECT.
func TestRoundTripInProcess(t *testing.T) {
	pki := testbed.NewPKI(t, testbed.PKIOptions{})
	b := startBroker(t, pki, nil)
	var ev eventLog
	var c collector
	s, err := New(testOptions(t, pki, b.port, &ev), []Subscription{{Filter: "dt/+/echo", QoS: 1, Handle: c.handle}})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, s)
	waitFor(t, "subscribed", func() bool { return s.State().Subscribed })
	d, err := s.Publish(context.Background(), "dt/device/echo", 1, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Wait(context.Background()); err != nil {
		t.Fatalf("delivery: %v", err)
	}
	waitFor(t, "the echo", func() bool { return len(c.got()) == 1 })
	if got := c.got()[0]; got != "dt/device/echo hello" {
		t.Errorf("got %q", got)
	}
	_, pubacks, _, _ := b.hook.snapshot()
	waitFor(t, "the PUBACK of the echo", func() bool { _, pubacks, _, _ = b.hook.snapshot(); return pubacks == 1 })
	stop()
	if s.Connected() {
		t.Error("still connected after Run returned")
	}
	if _, err := s.Publish(context.Background(), "dt/device/echo", 1, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Run: %v, want ErrClosed", err)
	}
	var kinds []string
	for _, e := range ev.all() {
		kinds = append(kinds, e.Kind.String())
	}
	if got := strings.Join(kinds, ","); got != "connected,subscribed,disconnected" {
		t.Errorf("events %s, want connected,subscribed,disconnected", got)
	}
}

// A SUBSCRIBE that gets no SUBACK is sent again on the same connection, and the
// subscription then works (the first one never reached the broker's topic tree).
func TestSubscribeRetriedWithoutSuback(t *testing.T) {
	pki := testbed.NewPKI(t, testbed.PKIOptions{})
	b := startBroker(t, pki, &faultHook{swallowSubscribe: 1})
	var ev eventLog
	var c collector
	o := testOptions(t, pki, b.port, &ev)
	o.AckTimeout = 300 * time.Millisecond
	s, err := New(o, []Subscription{{Filter: "cmd/device/#", QoS: 1, Handle: c.handle}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	waitFor(t, "subscribed", func() bool { return s.State().Subscribed })
	subs, _, connects, _ := b.hook.snapshot()
	if subs != 2 || connects != 1 {
		t.Fatalf("broker saw %d SUBSCRIBE over %d connections, want 2 over 1", subs, connects)
	}
	if err := b.srv.Publish("cmd/device/reboot", []byte("now"), false, 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the command", func() bool { return len(c.got()) == 1 })
}

// A QoS1 publish whose PUBACK never comes is sent again, with DUP=1 and the same packet ID,
// after the connection is re-made, and its Delivery completes on that PUBACK: it survives
// the reconnect.
func TestPublishResentWithDupAfterReconnect(t *testing.T) {
	pki := testbed.NewPKI(t, testbed.PKIOptions{})
	b := startBroker(t, pki, &faultHook{swallowPublish: 1})
	var ev eventLog
	s, err := New(testOptions(t, pki, b.port, &ev), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan packets.Packet, 4)
	if err := b.srv.Subscribe("dt/#", 1, func(_ *mochi.Client, _ packets.Subscription, pk packets.Packet) { got <- pk }); err != nil {
		t.Fatal(err)
	}
	start(t, s)
	waitFor(t, "connected", s.Connected)
	d, err := s.Publish(context.Background(), "dt/device/m", 1, []byte("one"))
	if err != nil {
		t.Fatal(err)
	}
	var first []packets.Packet
	waitFor(t, "the first PUBLISH", func() bool { _, _, _, first = b.hook.snapshot(); return len(first) == 1 })
	if first[0].FixedHeader.Dup {
		t.Fatal("the first send already has DUP=1")
	}
	if s.State().InFlight != 1 {
		t.Fatalf("in flight %d, want 1", s.State().InFlight)
	}
	select {
	case <-d.Done():
		t.Fatalf("delivery completed (%v) although the broker never acknowledged", d.Err())
	default:
	}

	b.hook.drop(t, "device")
	if err := d.Wait(context.Background()); err != nil {
		t.Fatalf("delivery after the reconnect: %v", err)
	}
	_, _, connects, pubs := b.hook.snapshot()
	if connects != 2 || len(pubs) != 2 {
		t.Fatalf("broker saw %d PUBLISH over %d connections, want 2 over 2", len(pubs), connects)
	}
	if !pubs[1].FixedHeader.Dup || pubs[1].PacketID != pubs[0].PacketID || string(pubs[1].Payload) != "one" {
		t.Errorf("resend: dup=%v id=%d (first %d) payload %q; want DUP=1, same id, same payload",
			pubs[1].FixedHeader.Dup, pubs[1].PacketID, pubs[0].PacketID, pubs[1].Payload)
	}
	select {
	case pk := <-got:
		if string(pk.Payload) != "one" {
			t.Errorf("subscriber got %q", pk.Payload)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the resent message never reached a subscriber")
	}
	waitFor(t, "the session to report the reconnect", func() bool { return s.State().Reconnects == 1 })
	if st := s.State(); st.InFlight != 0 || !st.SessionPresent {
		t.Errorf("state %+v: want nothing in flight, session present", st)
	}
}

// An inbound QoS1 message is acknowledged only after the handler accepted it. One it
// refused stays unacknowledged, and the broker delivers it again after a reconnect.
func TestInboundAckAfterAccept(t *testing.T) {
	pki := testbed.NewPKI(t, testbed.PKIOptions{})
	b := startBroker(t, pki, nil)
	var ev eventLog
	release := make(chan struct{})
	var calls atomic.Int32
	var accepted sync.WaitGroup
	accepted.Add(1)
	handle := func(ctx context.Context, topic string, payload []byte) error {
		switch calls.Add(1) {
		case 1:
			return errors.New("local queue full") // refused: no PUBACK
		case 2:
			select { // the redelivery: hold it, then accept
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
			accepted.Done()
		}
		return nil
	}
	s, err := New(testOptions(t, pki, b.port, &ev), []Subscription{{Filter: "cmd/#", QoS: 1, Handle: handle}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	waitFor(t, "subscribed", func() bool { return s.State().Subscribed })
	if err := b.srv.Publish("cmd/device/x", []byte("do"), false, 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first delivery", func() bool { return calls.Load() == 1 })
	b.hook.drop(t, "device")
	waitFor(t, "the redelivery", func() bool { return calls.Load() == 2 })
	// The handler holds the message: no PUBACK can have been sent.
	if _, pubacks, _, _ := b.hook.snapshot(); pubacks != 0 {
		t.Fatalf("%d PUBACKs before the handler accepted", pubacks)
	}
	close(release)
	accepted.Wait()
	waitFor(t, "the PUBACK", func() bool { _, p, _, _ := b.hook.snapshot(); return p == 1 })
}

// With the broker gone, attempts follow the backoff schedule: one wait between any two
// attempts, each wait within its ceiling, the ceilings doubling to the cap and the waits
// jittered, never a tight loop. Counted against an injected sleep, not the wall clock.
func TestBrokerGoneBacksOffWithJitter(t *testing.T) {
	pki := testbed.NewPKI(t, testbed.PKIOptions{})
	var ev eventLog
	o := testOptions(t, pki, freeClosedPort(t), &ev)
	r := rand.New(rand.NewPCG(7, 7))
	o.Backoff = BackoffOptions{Initial: time.Second, Max: 16 * time.Second, Rand: r.Int64N}
	s, err := New(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	const waits = 12
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var slept []time.Duration
	var ceilings []time.Duration
	var attemptsAtSleep []int64
	s.sleep = func(ctx context.Context, d time.Duration) error {
		slept = append(slept, d)
		attemptsAtSleep = append(attemptsAtSleep, s.attempts.Load())
		if len(slept) == waits {
			cancel()
			return ctx.Err()
		}
		ceilings = append(ceilings, s.backoff.Ceiling())
		return nil
	}
	// The ceiling for wait i is the one before Next moved up: record it before each Next.
	want := []time.Duration{1, 2, 4, 8, 16, 16, 16, 16, 16, 16, 16, 16}
	if err := s.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(slept) != waits {
		t.Fatalf("%d waits, want %d", len(slept), waits)
	}
	for i, n := range attemptsAtSleep {
		if n != int64(i+1) {
			t.Fatalf("wait %d came after %d attempts, want %d: attempts without a wait between", i, n, i+1)
		}
	}
	distinct := map[time.Duration]bool{}
	for i, d := range slept {
		if d < 0 || d > want[i]*time.Second {
			t.Errorf("wait %d = %v, outside [0, %v]", i, d, want[i]*time.Second)
		}
		distinct[d] = true
	}
	if len(distinct) < waits-1 {
		t.Errorf("waits %v are not jittered", slept)
	}
	if n := ev.count(EventConnectFailed); n != waits {
		t.Errorf("%d failed-attempt events, want %d", n, waits)
	}
	if st := s.State(); st.Connected || !strings.Contains(st.LastError, "connection refused") || !strings.Contains(st.LastError, "127.0.0.1:") {
		t.Errorf("state %+v: want disconnected with a refused connection to 127.0.0.1 as last error", st)
	}
}

// A broker whose certificate the device does not trust gives a *TLSError that went
// through ExplainErr, and TLSConfig is called for every attempt.
func TestTLSFailureWrappedAndExplained(t *testing.T) {
	pki := testbed.NewPKI(t, testbed.PKIOptions{})
	other := testbed.NewPKI(t, testbed.PKIOptions{})
	b := startBroker(t, pki, nil)
	var ev eventLog
	o := testOptions(t, other, b.port, &ev) // trusts the other CA only
	var tlsCalls atomic.Int32
	load := o.TLSConfig
	o.TLSConfig = func() (*tls.Config, error) { tlsCalls.Add(1); return load() }
	o.ExplainErr = func(err error) error { return fmt.Errorf("explained: %w", err) }
	s, err := New(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.sleep = func(ctx context.Context, _ time.Duration) error {
		if ev.count(EventConnectFailed) >= 3 {
			cancel()
		}
		return ctx.Err()
	}
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	for _, e := range ev.all() {
		var te *TLSError
		if !errors.As(e.Err, &te) || te.Op != "tls handshake" || !strings.Contains(e.Err.Error(), "explained: ") ||
			!strings.Contains(e.Err.Error(), "certificate") {
			t.Errorf("event error %v: want an explained *TLSError about the certificate", e.Err)
		}
	}
	if n := tlsCalls.Load(); n != 3 {
		t.Errorf("TLSConfig called %d times for 3 attempts", n)
	}
}

// A broker that closes every connection right after CONNACK is reported once, with the
// likely causes, not once per drop.
func TestRepeatedDropsAfterConnackLoggedOnce(t *testing.T) {
	pki := testbed.NewPKI(t, testbed.PKIOptions{})
	b := startBroker(t, pki, &faultHook{kick: true})
	var ev eventLog
	core, logs := observer.New(zap.InfoLevel)
	o := testOptions(t, pki, b.port, &ev)
	o.Logger = zap.New(core)
	s, err := New(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.sleep = func(ctx context.Context, _ time.Duration) error {
		if ev.count(EventDisconnected) >= 6 {
			cancel()
		}
		return ctx.Err()
	}
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	flaps := logs.FilterMessageSnippet("keeps closing the connection right after accepting it").All()
	if len(flaps) != 1 {
		t.Fatalf("%d flap warnings for %d drops, want exactly 1", len(flaps), ev.count(EventDisconnected))
	}
	causes := flaps[0].ContextMap()["likely_causes"].(string)
	if !strings.Contains(causes, "same client ID") || !strings.Contains(causes, "policy") {
		t.Errorf("likely causes %q: want the duplicate client ID and the policy", causes)
	}
}

// With a persistent session the broker keeps the subscription across a reconnect, so it
// is not sent again; messages keep arriving.
func TestSessionPresentKeepsSubscriptions(t *testing.T) {
	pki := testbed.NewPKI(t, testbed.PKIOptions{})
	b := startBroker(t, pki, nil)
	var ev eventLog
	var c collector
	s, err := New(testOptions(t, pki, b.port, &ev), []Subscription{{Filter: "cmd/#", QoS: 1, Handle: c.handle}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	waitFor(t, "subscribed", func() bool { return s.State().Subscribed })
	b.hook.drop(t, "device")
	waitFor(t, "the reconnect", func() bool { return s.State().Reconnects == 1 && s.State().Subscribed })
	if subs, _, _, _ := b.hook.snapshot(); subs != 1 {
		t.Errorf("%d SUBSCRIBE packets, want 1: the session was present", subs)
	}
	if err := b.srv.Publish("cmd/x", []byte("after"), false, 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the message after the reconnect", func() bool { return len(c.got()) == 1 })
}

// With CleanSession=true every connect subscribes again, and a publish left without PUBACK
// when the connection drops fails with ErrSessionLost.
func TestCleanSession(t *testing.T) {
	pki := testbed.NewPKI(t, testbed.PKIOptions{})
	b := startBroker(t, pki, &faultHook{swallowPublish: 1})
	var ev eventLog
	var c collector
	o := testOptions(t, pki, b.port, &ev)
	o.CleanSession = true
	s, err := New(o, []Subscription{{Filter: "cmd/#", QoS: 1, Handle: c.handle}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	waitFor(t, "subscribed", func() bool { return s.State().Subscribed })
	d, err := s.Publish(context.Background(), "dt/x", 1, []byte("lost"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the swallowed PUBLISH", func() bool { _, _, _, p := b.hook.snapshot(); return len(p) == 1 })
	b.hook.drop(t, "device")
	if err := d.Wait(context.Background()); !errors.Is(err, ErrSessionLost) {
		t.Errorf("delivery: %v, want ErrSessionLost", err)
	}
	waitFor(t, "subscribed again", func() bool { return s.State().Reconnects == 1 && s.State().Subscribed })
	if subs, _, _, _ := b.hook.snapshot(); subs != 2 {
		t.Errorf("%d SUBSCRIBE packets, want 2", subs)
	}
}

// Cancelling Run while a publish waits for its PUBACK fails it with ErrClosed.
func TestPendingDeliveryFailsWithErrClosed(t *testing.T) {
	pki := testbed.NewPKI(t, testbed.PKIOptions{})
	b := startBroker(t, pki, &faultHook{swallowPublish: 1})
	var ev eventLog
	s, err := New(testOptions(t, pki, b.port, &ev), nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, s)
	waitFor(t, "connected", s.Connected)
	d, err := s.Publish(context.Background(), "dt/x", 1, []byte("pending"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the swallowed PUBLISH", func() bool { _, _, _, p := b.hook.snapshot(); return len(p) == 1 })
	stop()
	if err := d.Err(); !errors.Is(err, ErrClosed) {
		t.Errorf("delivery after Run returned: %v, want ErrClosed", err)
	}
}

// A subscription the broker refuses (here mochi's ACL standing in for an IoT policy) is
// reported with the policy hint and tried again on the backoff schedule, while the allowed
// one works.
func TestSubscriptionRefused(t *testing.T) {
	pki := testbed.NewPKI(t, testbed.PKIOptions{})
	b := startBroker(t, pki, &faultHook{deny: "cmd/device/#"})
	var ev eventLog
	var c collector
	core, logs := observer.New(zap.InfoLevel)
	o := testOptions(t, pki, b.port, &ev)
	o.Logger = zap.New(core)
	s, err := New(o, []Subscription{
		{Filter: "dt/device/echo", QoS: 1, Handle: c.handle},
		{Filter: "cmd/device/#", QoS: 1, Handle: c.handle},
	})
	if err != nil {
		t.Fatal(err)
	}
	var retries atomic.Int32
	s.sleep = func(ctx context.Context, _ time.Duration) error {
		if retries.Add(1) < 2 {
			return nil // one more round
		}
		<-ctx.Done()
		return ctx.Err()
	}
	start(t, s)
	waitFor(t, "the refused subscription to be retried", func() bool { return retries.Load() == 2 })
	refused := logs.FilterMessage("subscription not in place; trying again").All()
	if len(refused) != 2 {
		t.Fatalf("%d refusal warnings, want 2 (first try and one retry)", len(refused))
	}
	msg := refused[0].ContextMap()["error"].(string)
	if !strings.Contains(msg, `"cmd/device/#"`) || !strings.Contains(msg, "iot:Subscribe") {
		t.Errorf("refusal %q: want the filter and the policy hint", msg)
	}
	if subs, _, _, _ := b.hook.snapshot(); subs != 3 {
		t.Errorf("%d SUBSCRIBE packets, want 3: the allowed one once, the refused one twice", subs)
	}
	if s.State().Subscribed {
		t.Error("reported as subscribed although one subscription was refused")
	}
	d, err := s.Publish(context.Background(), "dt/device/echo", 1, []byte("allowed"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the echo on the allowed subscription", func() bool { return len(c.got()) == 1 })
}
