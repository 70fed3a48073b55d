package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// checkSteps are the steps of a healthy run, in order (one ntp line per server).
var checkSteps = []string{"config", "cert_file", "key_file", "trust", "ntp", "clock", "dns", "tcp", "tls", "mqtt", "roundtrip"}

// stepLine returns the text line of step, failing the test when there is none.
func stepLine(t *testing.T, out, step string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[1] == step {
			return l
		}
	}
	t.Fatalf("no %s line in:\n%s", step, out)
	return ""
}

// wantLine checks that step has status and that its line mentions every one of want.
func wantLine(t *testing.T, out, step, status string, want ...string) {
	t.Helper()
	l := stepLine(t, out, step)
	if !strings.HasPrefix(l, status+" ") {
		t.Errorf("%s is not %s:\n%s", step, status, out)
	}
	for _, w := range want {
		if !strings.Contains(l, w) {
			t.Errorf("%s line does not mention %q:\n%s", step, w, l)
		}
	}
}

// variant writes a copy of the world's config with one key's line replaced.
func variant(t *testing.T, w *world, key, value string) string {
	t.Helper()
	doc, err := os.ReadFile(w.config)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(doc), "\n")
	found := false
	for i, l := range lines {
		if strings.HasPrefix(l, key+" = ") {
			lines[i], found = fmt.Sprintf("%s = %q", key, value), true
		}
	}
	if !found {
		t.Fatalf("no %s in the world's config", key)
	}
	path := filepath.Join(t.TempDir(), "thingd.toml")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCheckHealthy: on a working broker and NTP server every step passes, check exits 0,
// the test message really went through the broker, and --json says the same for scripts.
func TestCheckHealthy(t *testing.T) {
	w := newWorld(t, worldOptions{})
	seen := w.broker.Subscribe(t, "thingd/check/#")
	out, stderr, code := runThingd(t, nil, "check", "--config", w.config)
	if code != 0 {
		t.Fatalf("exit %d, want 0\n%s%s", code, out, stderr)
	}
	for _, step := range checkSteps {
		wantLine(t, out, step, "pass")
	}
	wantLine(t, out, "config", "pass", w.config)
	wantLine(t, out, "tcp", "pass", fmt.Sprintf("localhost:%d", w.broker.Port))
	wantLine(t, out, "mqtt", "pass", "CONNACK 0", `"thingd-test"`)
	wantLine(t, out, "roundtrip", "pass", "thingd/check/pi/")
	if msgs := seen.Wait(t, 1, 10*time.Second); !strings.HasPrefix(msgs[0].Topic, "thingd/check/pi/") || msgs[0].QoS != 1 {
		t.Errorf("the broker saw %+v, want a QoS1 message on thingd/check/pi/...", msgs[0])
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("colour codes written to a pipe:\n%q", out)
	}
	t.Logf("thingd check:\n%s", out)

	out, _, code = runThingd(t, nil, "check", "--config", w.config, "--json")
	var results []map[string]any
	if err := json.Unmarshal([]byte(out), &results); err != nil || code != 0 {
		t.Fatalf("--json: exit %d, %v:\n%s", code, err, out)
	}
	if len(results) != len(checkSteps) {
		t.Fatalf("--json gave %d results, want %d:\n%s", len(results), len(checkSteps), out)
	}
	for i, r := range results {
		if r["step"] != checkSteps[i] || r["status"] != "pass" || r["detail"] == "" {
			t.Errorf("--json result %d = %v, want step %s passing with a detail", i, r, checkSteps[i])
		}
	}
	if _, ok := results[4]["offset_ms"].(float64); !ok {
		t.Errorf("ntp result has no numeric offset_ms: %v", results[4])
	}
	if results[9]["connack"] != 0.0 {
		t.Errorf("mqtt result has connack %v, want 0", results[9]["connack"])
	}
}

// TestCheckFailures: each broken piece fails check (exit 1) at its own step, names the
// culprit, and the steps that depend on it are skipped rather than reported as failing.
func TestCheckFailures(t *testing.T) {
	w := newWorld(t, worldOptions{})
	dir := t.TempDir()
	missingKey := filepath.Join(dir, "certs", "device.private.key")
	_, otherKey := w.broker.PKI.IssueDevice(t, "another-device")
	missingCA := filepath.Join(dir, "AmazonRootCA1.pem")
	addr := fmt.Sprintf("localhost:%d", w.broker.Port)

	cases := []struct {
		name      string
		config    string
		stopFirst bool
		step      string
		want      []string
		skipped   []string
	}{
		{"missing key", variant(t, w, "key_file", missingKey), false, "key_file",
			[]string{missingKey, "no such file"}, []string{"tls", "mqtt", "roundtrip"}},
		{"key of another certificate", variant(t, w, "key_file", otherKey), false, "key_file",
			[]string{otherKey, "does not match", w.broker.PKI.DeviceCertFile}, []string{"tls", "mqtt", "roundtrip"}},
		{"missing CA file", variant(t, w, "ca_file", missingCA), false, "trust",
			[]string{missingCA, "no such file"}, []string{"tls", "mqtt", "roundtrip"}},
		// Last: it stops the broker.
		{"broker down", w.config, true, "tcp",
			[]string{addr, "connection refused"}, []string{"tls", "mqtt", "roundtrip"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.stopFirst {
				w.broker.Stop(t)
			}
			out, stderr, code := runThingd(t, nil, "check", "--config", c.config)
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s%s", code, out, stderr)
			}
			wantLine(t, out, c.step, "fail", c.want...)
			for _, s := range c.skipped {
				wantLine(t, out, s, "skip")
			}
			if n := strings.Count(out, "\nfail ") + btoi(strings.HasPrefix(out, "fail ")); n != 1 {
				t.Errorf("%d failing steps, want only %s:\n%s", n, c.step, out)
			}
			t.Logf("thingd check:\n%s", out)
		})
	}
}

// TestCheckConfigError: a config that does not load is a failing config line naming the
// file, line and key, and exit 2 like `thingd run`.
func TestCheckConfigError(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.toml")
	doc := "version = 1\n[mqtt]\nendpoint = \"localhost\"\nclient_id = \"pi\"\nkeep_alive = \"60s\"\n"
	if err := os.WriteFile(bad, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, code := runThingd(t, nil, "check", "--config", bad)
	if code != 2 {
		t.Fatalf("exit %d, want 2:\n%s", code, out)
	}
	wantLine(t, out, "config", "fail", bad+":5", "keep_alive")
	if _, _, code := runThingd(t, nil, "check", "--bogus"); code != 2 {
		t.Errorf("unknown flag: exit %d, want 2", code)
	}
}

// TestCheckClockBehindNoNTP: three years behind and no NTP server answering, check fails
// at the clock (naming the certificate's start date) and at TLS (naming what the SDK and
// openssl call it).
func TestCheckClockBehindNoNTP(t *testing.T) {
	w := newWorld(t, worldOptions{FakeDays: 1095, NoNTP: true})
	out, stderr, code := runThingd(t, nil, "check", "--config", w.config)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, stderr)
	}
	start := w.broker.PKI.NotBefore.UTC().Format("2006-01-02")
	wantLine(t, out, "ntp", "warn", "no usable answer")
	wantLine(t, out, "clock", "fail", "clock", "not yet valid", start, "behind")
	wantLine(t, out, "tls", "fail", "not yet valid", "clock", "behind", "AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE", "certificate is not yet valid")
	wantLine(t, out, "mqtt", "skip")
	t.Logf("thingd check:\n%s", out)
}

// TestCheckClockBehindNTPAnswers: three years behind but NTP (also three years ahead of
// this machine) answers: thingd would work on NTP time, so the clock is a warning naming
// the 1095 days, TLS passes with NTP time while saying the system time fails, and check
// exits 0 after a full round trip.
func TestCheckClockBehindNTPAnswers(t *testing.T) {
	w := newWorld(t, worldOptions{FakeDays: 1095})
	out, stderr, code := runThingd(t, nil, "check", "--config", w.config)
	if code != 0 {
		t.Fatalf("exit %d, want 0\n%s%s", code, out, stderr)
	}
	wantLine(t, out, "ntp", "pass", w.ntp.Addr, "+1095 days")
	wantLine(t, out, "clock", "warn", "1095 days behind", "valid at NTP time but not at the system time", `clock.step = "auto"`)
	wantLine(t, out, "tls", "pass", "NTP time", "1095 days behind", "AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE")
	wantLine(t, out, "mqtt", "pass", "CONNACK 0")
	wantLine(t, out, "roundtrip", "pass")
	t.Logf("thingd check:\n%s", out)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
