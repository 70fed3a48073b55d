package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"thingd/daemon/status"
	"thingd/internal/testbed/awsiot"
)

// pubLines queues one message per line through `thingd pub --lines`.
func pubLines(t *testing.T, socket, topic string, lines []string) {
	t.Helper()
	cmd := exec.Command(binary, "pub", "--socket", socket, "--qos", "1", "--topic", topic, "--lines")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("thingd pub --lines %s: %v: %s", topic, err, out.String())
	}
}

func numbered(prefix string, from, n int) []string {
	var out []string
	for i := from; i < from+n; i++ {
		out = append(out, fmt.Sprint(prefix, i))
	}
	return out
}

// distinct waits until rec holds n distinct payloads (at least once: duplicates allowed).
func distinct(t *testing.T, rec *awsiot.Recorder, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		seen := map[string]bool{}
		for _, m := range rec.Messages() {
			seen[string(m.Payload)] = true
		}
		if len(seen) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d distinct messages arrived within %v", len(seen), n, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func statusJSON(t *testing.T, socket string) status.Status {
	t.Helper()
	out, errOut, code := runThingd(t, nil, "status", "--socket", socket, "--json")
	if code != 0 {
		t.Fatalf("thingd status --json: exit %d: %s", code, errOut)
	}
	var st status.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestDeniedMessageIsDeadLettered (issue 12 item 1): the IoT policy denies one topic, and
// AWS IoT closes the connection on each publish to it. Of 50 good, 1 denied, 50 good, all
// 100 good arrive within 60 s; the denied one ends in the dead letters (in `thingd
// deadletter list` and `thingd status`), logged once at error level with the policy fix;
// after the policy allows the topic, `thingd deadletter retry` delivers it. Without the
// fix the denied message is resent on every connection and nothing behind it arrives.
func TestDeniedMessageIsDeadLettered(t *testing.T) {
	w, b := newAWSWorld(t, awsiot.Options{Policy: &awsiot.Policy{Publish: []string{"dt/pi/good"}}}, "")
	good, err := b.Subscribe("dt/pi/good")
	if err != nil {
		t.Fatal(err)
	}
	denied, err := b.Subscribe("dt/pi/denied")
	if err != nil {
		t.Fatal(err)
	}
	p := w.start(t)
	defer p.stop(t)
	start := time.Now()
	pubLines(t, w.socket, "dt/{thing}/good", numbered("good ", 1, 50))
	pubLines(t, w.socket, "dt/{thing}/denied", []string{"denied 1"})
	pubLines(t, w.socket, "dt/{thing}/good", numbered("good ", 51, 50))
	distinct(t, good, 100, 60*time.Second)
	t.Logf("all 100 good messages arrived %v after the first was queued; broker: %d connects, %d denied publishes",
		time.Since(start).Round(100*time.Millisecond), b.Stats().Connects, len(b.Stats().DeniedPublishes))

	// The letter is in the store before the records behind it are sent, so it shows now.
	st := statusJSON(t, w.socket)
	if st.DeadLetters.Count != 1 || st.DeadLetters.Last == nil || st.DeadLetters.Last.Topic != "dt/pi/denied" {
		t.Fatalf("status dead_letters = %+v, want 1 on dt/pi/denied", st.DeadLetters)
	}
	if st.Queue.Depth != 0 {
		t.Errorf("queue depth %d after everything was delivered or dead-lettered", st.Queue.Depth)
	}
	text, _, code := runThingd(t, nil, "status", "--socket", w.socket)
	if code != 0 || !strings.Contains(text, "deadletters 1 kept") || !strings.Contains(text, "thingd deadletter retry all") {
		t.Fatalf("thingd status (exit %d) does not show the dead letter and what to do:\n%s", code, text)
	}
	list, errOut, code := runThingd(t, nil, "deadletter", "list", "--socket", w.socket)
	if code != 0 || !strings.Contains(list, "dt/pi/denied") || !strings.Contains(list, fmt.Sprintf("seq %d ", st.DeadLetters.Last.Seq)) {
		t.Fatalf("thingd deadletter list: exit %d: %s%s", code, list, errOut)
	}
	fix := "arn:aws:iot:<region>:<account>:topic/dt/pi/denied"
	if n := strings.Count(p.log.String(), fix); n != 1 {
		t.Errorf("the policy fix %q is logged %d times, want once", fix, n)
	}
	if m := denied.Messages(); len(m) != 0 {
		t.Fatalf("the broker delivered the denied message: %+v", m)
	}

	b.SetPolicy(&awsiot.Policy{Publish: []string{"dt/pi/#"}})
	out, errOut, code := runThingd(t, nil, "deadletter", "retry", fmt.Sprint(st.DeadLetters.Last.Seq), "--socket", w.socket)
	if code != 0 || !strings.Contains(out, "1 dead letters queued again") {
		t.Fatalf("thingd deadletter retry: exit %d: %s%s", code, out, errOut)
	}
	got, err := denied.Wait(1, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if string(got[0].Payload) != "denied 1" {
		t.Fatalf("retried message arrived as %q", got[0].Payload)
	}
	if list, _, _ := runThingd(t, nil, "deadletter", "list", "--socket", w.socket); !strings.Contains(list, "no dead letters") {
		t.Fatalf("after retry, thingd deadletter list says:\n%s", list)
	}
	if st := statusJSON(t, w.socket); st.DeadLetters.Count != 0 {
		t.Fatalf("after retry, status dead_letters = %+v", st.DeadLetters)
	}
}

// TestDeadLetterDiscardAndRestart: a dead letter survives a restart of the daemon, and
// `thingd deadletter discard` removes it for good; messages queued behind it flow on.
func TestDeadLetterDiscardAndRestart(t *testing.T) {
	w, b := newAWSWorld(t, awsiot.Options{Policy: &awsiot.Policy{Publish: []string{"dt/pi/good"}}}, "")
	good, err := b.Subscribe("dt/pi/good")
	if err != nil {
		t.Fatal(err)
	}
	p := w.start(t)
	pubLines(t, w.socket, "dt/{thing}/denied", []string{"denied 1"})
	pubLines(t, w.socket, "dt/{thing}/good", []string{"good 1"})
	distinct(t, good, 1, 60*time.Second)
	if code := p.stop(t); code != 0 {
		t.Fatalf("thingd exited %d", code)
	}
	p = w.start(t)
	defer p.stop(t)
	list, errOut, code := runThingd(t, nil, "deadletter", "list", "--socket", w.socket, "--json")
	if code != 0 || !strings.Contains(list, `"topic": "dt/pi/denied"`) {
		t.Fatalf("after a restart, thingd deadletter list --json: exit %d: %s%s", code, list, errOut)
	}
	out, errOut, code := runThingd(t, nil, "deadletter", "discard", "all", "--socket", w.socket)
	if code != 0 || !strings.Contains(out, "1 dead letters discarded") {
		t.Fatalf("thingd deadletter discard all: exit %d: %s%s", code, out, errOut)
	}
	if st := statusJSON(t, w.socket); st.DeadLetters.Count != 0 {
		t.Fatalf("after discard, status dead_letters = %+v", st.DeadLetters)
	}
	if _, errOut, code := runThingd(t, nil, "deadletter", "retry", "12345", "--socket", w.socket); code != 1 || !strings.Contains(errOut, "no dead letter with seq 12345") {
		t.Fatalf("retry of an unknown seq: exit %d: %s", code, errOut)
	}
}
