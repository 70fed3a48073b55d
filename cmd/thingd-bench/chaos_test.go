package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"thingd/internal/testbed"
)

// binary is the real thingd, built once for the chaos test.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "thingd-bench-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "thingd")
	if out, err := exec.Command("go", "build", "-o", binary, "../thingd").CombinedOutput(); err != nil {
		panic("build thingd: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	if code == 0 {
		// goleak.VerifyTestMain would exit before the binary is removed.
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestChaosShort (issue 8's short chaos): 10 k numbered messages from 4 producers while thingd
// is SIGKILLed twice, the broker restarts once and the network is cut once. Every message
// acknowledged to a producer arrives at least once, nothing arrives that no producer sent,
// the queue ends empty, and duplicates stay within the in-flight window of each fault.
func TestChaosShort(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos runs real mosquitto, chronyd and thingd for about 30 s; skipped with -short")
	}
	for _, tool := range [][2]string{{"mosquitto", "mosquitto"}, {"mosquitto_pub", "mosquitto-clients"}, {"chronyd", "chrony"}, {"setpriv", "util-linux"}} {
		testbed.Require(t, tool[0], tool[1])
	}
	c := defaultChaos()
	c.thingd, c.messages, c.chunk, c.duration = binary, 10_000, 250, 20*time.Second
	c.kills, c.restarts, c.cuts, c.settle = 2, 1, 1, 60*time.Second
	shortChaos(t, c, 3*time.Minute)
}

// TestChaosShortAWS (issue 12): the short chaos against the AWS-like broker: 10 k messages
// while thingd is SIGKILLed twice, the network is cut once, one message outside the IoT
// policy is queued among them and every 50th PUBACK is dropped. Every acknowledged message
// arrives, the refused one is the only thing left out (a dead letter, not in the queue), the
// queue ends empty and duplicates stay within a window per connection the broker saw.
func TestChaosShortAWS(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos runs chronyd and thingd for about a minute; skipped with -short")
	}
	for _, tool := range [][2]string{{"chronyd", "chrony"}, {"setpriv", "util-linux"}} {
		testbed.Require(t, tool[0], tool[1])
	}
	c := defaultChaos()
	c.aws = true
	c.thingd, c.messages, c.chunk, c.duration = binary, 10_000, 250, 20*time.Second
	c.kills, c.cuts, c.denies, c.settle = 2, 1, 1, 90*time.Second
	if res := shortChaos(t, c, 4*time.Minute); res.pubacksDropped == 0 {
		t.Fatal("the broker dropped no PUBACK: the run did not test lost PUBACKs")
	}
}

// shortChaos runs c, fails the test unless its verdict passes with 4 faults and every
// message acknowledged and arrived once at least, and returns the result.
func shortChaos(t *testing.T, c chaosConfig, timeout time.Duration) *chaosResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res, err := runChaos(ctx, c, testWriter{t})
	if res != nil {
		t.Log("\n" + renderChaos(res))
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := res.verdict(); err != nil {
		t.Fatal(err)
	}
	if len(res.events) != 4 || res.acked != c.messages || res.distinct != c.messages {
		t.Fatalf("%d faults, %d acknowledged, %d distinct arrived; want 4, %d, %d", len(res.events), res.acked, res.distinct, c.messages, c.messages)
	}
	return res
}

// testWriter sends the lab's progress lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
