package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNothingLostAcrossKill9AndOutage (issue 5's acceptance): with the broker unreachable,
// 2000 messages accepted by `thingd pub --lines` survive SIGKILL of the daemon and all
// arrive, in order of first arrival, once it restarts and the broker can be reached.
func TestNothingLostAcrossKill9AndOutage(t *testing.T) {
	g := newGate(t)
	w := newWorld(t, worldOptions{BrokerPort: g.port})
	rec := w.broker.Subscribe(t, "dt/pi/seq")
	d := w.start(t)

	var lines strings.Builder
	for i := 1; i <= 2000; i++ {
		fmt.Fprintf(&lines, "%d\n", i)
	}
	cmd := exec.Command(binary, "pub", "--socket", w.socket, "--topic", "dt/{thing}/seq", "--lines")
	cmd.Stdin = strings.NewReader(lines.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pub --lines: %v\n%s", err, out)
	}
	d.kill9(t)

	d = w.start(t)
	g.open(t, w.broker.Addr)
	msgs := rec.Wait(t, 2000, 60*time.Second)
	seen := map[int]bool{}
	last := 0
	for _, m := range msgs {
		n, err := strconv.Atoi(string(m.Payload))
		if err != nil {
			t.Fatalf("unexpected payload %q", m.Payload)
		}
		if seen[n] {
			continue
		}
		seen[n] = true
		if n != last+1 {
			t.Fatalf("first arrivals out of order: %d after %d", n, last)
		}
		last = n
	}
	if len(seen) != 2000 {
		t.Fatalf("%d distinct messages arrived, want 2000", len(seen))
	}
	t.Logf("2000 messages, %d deliveries (%d duplicates)", len(msgs), len(msgs)-2000)
	if code := d.stop(t); code != 0 {
		t.Errorf("SIGTERM exit code %d, want 0", code)
	}
}

// TestRunPublishesTelemetryAndReportsStatus: the daemon syncs with chronyd, connects over
// mutual TLS, publishes built-in telemetry stamped with trusted time, and `thingd status
// --json` reports it; STATUS= tells a person the same.
func TestRunPublishesTelemetryAndReportsStatus(t *testing.T) {
	w := newWorld(t, worldOptions{Extra: telemetryEverySecond})
	rec := w.broker.Subscribe(t, "dt/pi/system")
	d := w.start(t)
	msgs := rec.Wait(t, 2, 30*time.Second)
	var doc struct {
		TS    time.Time `json:"ts"`
		Thing string    `json:"thing"`
	}
	if err := json.Unmarshal(msgs[0].Payload, &doc); err != nil {
		t.Fatalf("telemetry is not JSON: %v: %s", err, msgs[0].Payload)
	}
	if doc.Thing != "pi" || time.Since(doc.TS).Abs() > time.Hour {
		t.Errorf("telemetry thing %q ts %v", doc.Thing, doc.TS)
	}
	out, _, code := runThingd(t, nil, "status", "--socket", w.socket, "--json")
	if code != 0 {
		t.Fatalf("status exit %d", code)
	}
	var st struct {
		Connection struct{ Connected bool }
		Clock      struct{ Synced bool }
		Counters   struct{ Published uint64 }
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if !st.Connection.Connected || !st.Clock.Synced || st.Counters.Published < 1 {
		t.Errorf("status = %+v\n%s", st, out)
	}
	line := d.notify.waitFor(t, "STATUS=connected", 10*time.Second)
	if !strings.Contains(line, "clock synced") || !strings.Contains(line, "queue") {
		t.Errorf("STATUS line %q", line)
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
	if all := strings.Join(d.notify.all(), "\n"); !strings.Contains(all, "STOPPING=1") {
		t.Errorf("no STOPPING=1 in %q", all)
	}
}

const telemetryEverySecond = "[[telemetry]]\ntopic = \"dt/{thing}/system\"\ninterval = \"1s\"\n"

// TestWorldThreeYearsAhead (issue 4's decisive test): broker, NTP server and certificates
// live 1095 days ahead, the way a Pi with no RTC boots behind the world. thingd, on this
// machine's time and without CAP_SYS_TIME, syncs, connects, and stamps telemetry in the
// world's year.
func TestWorldThreeYearsAhead(t *testing.T) {
	w := newWorld(t, worldOptions{FakeDays: 1095, Extra: telemetryEverySecond})
	rec := w.broker.Subscribe(t, "dt/pi/system")
	d := w.start(t)
	msgs := rec.Wait(t, 1, 60*time.Second)
	var doc struct {
		TS time.Time `json:"ts"`
	}
	if err := json.Unmarshal(msgs[0].Payload, &doc); err != nil {
		t.Fatal(err)
	}
	world := time.Now().Add(1095 * 24 * time.Hour)
	if doc.TS.Year() != world.Year() || doc.TS.Sub(world).Abs() > time.Hour {
		t.Errorf("telemetry ts %v, want the world's time about %v", doc.TS, world)
	}
	if strings.Contains(string(msgs[0].Payload), "unsynced") {
		t.Errorf("telemetry marked unsynced: %s", msgs[0].Payload)
	}
	d.stop(t)
}

// TestNoNTPReachable: with no NTP server answering and certificates valid only in the
// world's future, thingd stays up, says the clock is the reason, and keeps trying.
func TestNoNTPReachable(t *testing.T) {
	w := newWorld(t, worldOptions{FakeDays: 1095, NoNTP: true})
	d := w.start(t)
	line := d.notify.waitFor(t, "not yet valid", 60*time.Second)
	if !strings.Contains(line, "clock unsynced") {
		t.Errorf("STATUS= does not name the clock: %q", line)
	}
	out, _, code := runThingd(t, nil, "status", "--socket", w.socket)
	if code != 0 || !strings.Contains(out, "unsynced") || !strings.Contains(out, "not yet valid") {
		t.Errorf("status exit %d:\n%s", code, out)
	}
	t.Logf("STATUS=%s\n%s", line, out)
	if code := d.stop(t); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// TestSystemdLifecycle (issue 6's acceptance): through a unixgram NOTIFY_SOCKET the real
// daemon sends READY=1, STATUS=, at least two WATCHDOG=1, RELOADING=1 (with
// MONOTONIC_USEC) then READY=1 on SIGHUP, survives a reload with a bad config while
// saying so, and on SIGTERM sends STOPPING=1 and exits 0.
func TestSystemdLifecycle(t *testing.T) {
	w := newWorld(t, worldOptions{})
	t.Setenv("WATCHDOG_USEC", "1000000")
	d := w.start(t)
	d.notify.waitFor(t, "STATUS=", 10*time.Second)
	d.notify.waitFor(t, "WATCHDOG=1", 10*time.Second)
	d.notify.waitFor(t, "WATCHDOG=1", 10*time.Second)

	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	msg := d.notify.waitFor(t, "RELOADING=1", 10*time.Second)
	if !strings.Contains(msg, "MONOTONIC_USEC=") {
		t.Errorf("RELOADING without MONOTONIC_USEC: %q", msg)
	}
	d.notify.waitFor(t, "READY=1", 10*time.Second)

	good, err := os.ReadFile(w.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.config, append(good, "\nbogus_key = 1\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	d.notify.waitFor(t, "RELOADING=1", 10*time.Second)
	d.notify.waitFor(t, "READY=1", 10*time.Second)
	status := d.notify.waitFor(t, "STATUS=reload failed", 10*time.Second)
	if !strings.Contains(status, "bogus_key") {
		t.Errorf("STATUS does not name the bad key: %q", status)
	}
	if out, _, code := runThingd(t, nil, "pub", "--socket", w.socket, "--topic", "dt/pi/x", "--message", "still here"); code != 0 {
		t.Errorf("daemon not accepting after a bad reload: %d %s", code, out)
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0", code)
	}
	d.notify.waitFor(t, "STOPPING=1", time.Second)
}

// TestReloadResendsWhatWasInFlight: messages published on a connection that then goes
// silent (no PUBACK) are still in flight when SIGHUP reloads; the new session sends them
// again, and none waits for a restart.
func TestReloadResendsWhatWasInFlight(t *testing.T) {
	g := newGate(t)
	w := newWorld(t, worldOptions{BrokerPort: g.port})
	rec := w.broker.Subscribe(t, "dt/pi/seq")
	g.open(t, w.broker.Addr)
	d := w.start(t)
	d.notify.waitFor(t, "STATUS=connected", 20*time.Second)
	g.blackHole()

	var lines strings.Builder
	for i := 1; i <= 300; i++ {
		fmt.Fprintf(&lines, "%d\n", i)
	}
	cmd := exec.Command(binary, "pub", "--socket", w.socket, "--topic", "dt/{thing}/seq", "--lines")
	cmd.Stdin = strings.NewReader(lines.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pub --lines: %v\n%s", err, out)
	}
	// Wait until the drain has filled its window on the silent connection.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, _, _ := runThingd(t, nil, "status", "--socket", w.socket, "--json")
		if strings.Contains(out, `"in_flight": 100`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("window never filled:\n%s", out)
		}
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	msgs := rec.Wait(t, 300, 60*time.Second)
	seen := map[string]bool{}
	for _, m := range msgs {
		seen[string(m.Payload)] = true
	}
	if len(seen) != 300 {
		t.Fatalf("%d of 300 distinct messages arrived after the reload", len(seen))
	}
	d.stop(t)
}
