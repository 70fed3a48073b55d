package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"thingd/internal/testbed/awsiot"
)

// TestLostPubackIsSentAgain: the broker takes the first of 10 messages and never
// acknowledges it, as AWS IoT sometimes does, while the connection stays healthy and the 9
// after it are acknowledged. Overtaken by their PUBACKs for 5 s (uplink.DefaultOvertakeGrace),
// it is taken for lost: thingd drops the connection itself, sends it again on the next one and
// the queue empties. Without the rule it waited for the 30 s deadline; without any deadline it
// stays at the queue's head for good (seen: depth 1, no reconnect, after 90 s).
func TestLostPubackIsSentAgain(t *testing.T) {
	testLostPuback(t, 10, "later messages had theirs")
}

// TestLostLonePubackIsSentAgain: the one message sent has no PUBACK and nothing overtakes
// it, so only the PUBACK deadline (max(2 × keepalive, 30 s): 30 s here) can find the loss;
// thingd reconnects then and the message arrives.
func TestLostLonePubackIsSentAgain(t *testing.T) {
	testLostPuback(t, 1, "no PUBACK within 30s")
}

// testLostPuback queues n messages of which the broker drops the first PUBACK, and checks
// that all arrive after a reconnect whose logged reason contains why.
func testLostPuback(t *testing.T, n int, why string) {
	w, b := newAWSWorld(t, awsiot.Options{}, "")
	rec, err := b.Subscribe("dt/pi/lp")
	if err != nil {
		t.Fatal(err)
	}
	var dropped atomic.Bool
	b.SetPuback(func(_, topic string, _ uint64) awsiot.PubackAction {
		if topic == "dt/pi/lp" && dropped.CompareAndSwap(false, true) {
			return awsiot.Drop
		}
		return awsiot.Deliver
	})
	p := w.start(t)
	defer p.stop(t)
	p.notify.waitFor(t, "STATUS=connected", 20*time.Second)

	var lines strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&lines, "%d\n", i)
	}
	cmd := exec.Command(binary, "pub", "--socket", w.socket, "--qos", "1", "--topic", "dt/{thing}/lp", "--lines")
	cmd.Stdin = strings.NewReader(lines.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pub --lines: %v\n%s", err, out)
	}

	// The PUBACK deadline is 30 s; give it three times that.
	var st struct {
		Connection struct{ Reconnects int }
		Queue      struct{ Depth int64 }
	}
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		out, _, code := runThingd(t, nil, "status", "--socket", w.socket, "--json")
		if code == 0 {
			if err := json.Unmarshal([]byte(out), &st); err != nil {
				t.Fatalf("status --json: %v\n%s", err, out)
			}
			if st.Queue.Depth == 0 && st.Connection.Reconnects >= 1 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("90 s after a lost PUBACK the queue holds %d and thingd reconnected %d times:\n%s",
				st.Queue.Depth, st.Connection.Reconnects, out)
		}
	}
	seen := map[string]int{}
	for _, m := range rec.Messages() {
		seen[string(m.Payload)]++
	}
	if len(seen) != n {
		t.Fatalf("%d of %d distinct messages reached the broker: %v", len(seen), n, seen)
	}
	if s := b.Stats(); s.PubacksDropped != 1 {
		t.Fatalf("the broker dropped %d PUBACKs, want 1: %+v", s.PubacksDropped, s)
	}
	log := p.log.String()
	if !strings.Contains(log, "dropping the connection to reconnect") || !strings.Contains(log, why) {
		t.Errorf("the log does not say the connection was dropped because of %q:\n%s", why, log)
	}
}

// TestOneLostPubackInTwenty: the broker drops every 20th PUBACK (resends included) while
// thingd sends 3000 messages at AWS IoT's 100 publishes/s limit. Every message arrives and
// the queue empties: each lost PUBACK costs one reconnect (after the overtake grace or the
// deadline), never the uplink.
func TestOneLostPubackInTwenty(t *testing.T) {
	w, b := newAWSWorld(t, awsiot.Options{Puback: awsiot.DropEvery(20)}, "")
	rec, err := b.Subscribe("dt/pi/many")
	if err != nil {
		t.Fatal(err)
	}
	p := w.start(t)
	defer p.stop(t)
	p.notify.waitFor(t, "STATUS=connected", 20*time.Second)

	const n = 3000
	var lines strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&lines, "%d\n", i)
	}
	cmd := exec.Command(binary, "pub", "--socket", w.socket, "--qos", "1", "--topic", "dt/{thing}/many", "--lines")
	cmd.Stdin = strings.NewReader(lines.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pub --lines: %v\n%s", err, out)
	}
	var st struct{ Queue struct{ Depth int64 } }
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(time.Second) {
		out, _, code := runThingd(t, nil, "status", "--socket", w.socket, "--json")
		if code == 0 && json.Unmarshal([]byte(out), &st) == nil && st.Queue.Depth == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("5 min on, %d messages still queued; broker %+v", st.Queue.Depth, b.Stats())
		}
	}
	seen := map[string]bool{}
	for _, m := range rec.Messages() {
		seen[string(m.Payload)] = true
	}
	if len(seen) != n {
		t.Fatalf("%d of %d distinct messages reached the broker", len(seen), n)
	}
	s := b.Stats()
	if s.PubacksDropped < n/20 || s.RateDropped != 0 || s.InflightDropped != 0 {
		t.Fatalf("broker stats %+v: want at least %d PUBACKs dropped and nothing dropped for rate or in-flight", s, n/20)
	}
	t.Logf("%d messages, %d PUBACKs dropped, %d published incl. resends, %d connects", n, s.PubacksDropped, s.Published, s.Connects)
}
