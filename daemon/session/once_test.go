package session

import (
	"context"
	"errors"
	"testing"
	"time"

	"thingd/internal/testbed"
)

// A PublishOnce message whose PUBACK never came is failed with ErrConnectionLost when its
// connection ends, and the next connection does not send it again (the caller owns the
// resend); a Publish message in the same situation is still resent and completes.
func TestPublishOnceNotResent(t *testing.T) {
	pki := testbed.NewPKI(t, testbed.PKIOptions{})
	b := startBroker(t, pki, &faultHook{swallowPublish: 2})
	var ev eventLog
	s, err := New(testOptions(t, pki, b.port, &ev), nil)
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	waitFor(t, "connected", s.Connected)
	once, err := s.PublishOnce(context.Background(), "dt/device/once", 1, []byte("once"))
	if err != nil {
		t.Fatal(err)
	}
	kept, err := s.Publish(context.Background(), "dt/device/kept", 1, []byte("kept"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both PUBLISH", func() bool { _, _, _, p := b.hook.snapshot(); return len(p) == 2 })
	b.hook.drop(t, "device")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := once.Wait(ctx); !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("PublishOnce delivery after the connection ended: %v, want ErrConnectionLost", err)
	}
	if err := kept.Wait(ctx); err != nil {
		t.Fatalf("Publish delivery after the reconnect: %v", err)
	}
	_, _, connects, pubs := b.hook.snapshot()
	if connects != 2 || len(pubs) != 3 {
		t.Fatalf("broker saw %d PUBLISH over %d connections, want 3 (once, kept, kept again) over 2", len(pubs), connects)
	}
	if string(pubs[2].Payload) != "kept" {
		t.Fatalf("the new connection sent %q; the PublishOnce message must not be resent", pubs[2].Payload)
	}
	if st := s.State(); st.InFlight != 0 {
		t.Errorf("in flight %d after both settled", st.InFlight)
	}
}
