package session

import (
	"testing"

	"thingd/internal/testbed"
)

// Reconnect drops a live connection and Run makes a new one. Under paho 1.5.0 closing the
// socket ourselves left Run waiting on a dead connection for good (paho took it for its own
// Disconnect); this test failed that way.
func TestReconnectDropsTheConnection(t *testing.T) {
	pki := testbed.NewPKI(t, testbed.PKIOptions{})
	b := startBroker(t, pki, nil)
	var ev eventLog
	s, err := New(testOptions(t, pki, b.port, &ev), nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, s)
	defer stop()
	waitFor(t, "connected", s.Connected)
	if !s.Reconnect("test") {
		t.Fatal("Reconnect found no connection to drop")
	}
	waitFor(t, "a second connection", func() bool { return ev.count(EventConnected) >= 2 })
	if ev.count(EventDisconnected) == 0 {
		t.Fatal("no disconnect event")
	}
}
