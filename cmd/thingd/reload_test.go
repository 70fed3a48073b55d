package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rewriteConfig replaces old by new in the world's config file.
func rewriteConfig(t *testing.T, w *world, old, new string) {
	t.Helper()
	b, err := os.ReadFile(w.config)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("config has no %q", old)
	}
	if err := os.WriteFile(w.config, []byte(strings.Replace(string(b), old, new, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestReloadAppliesTheNewConfig: SIGHUP with a telemetry topic changed in the file makes
// thingd publish on the new topic. A reload that did nothing would keep the old one.
func TestReloadAppliesTheNewConfig(t *testing.T) {
	w := newWorld(t, worldOptions{Extra: "[[telemetry]]\ntopic = \"dt/{thing}/before\"\ninterval = \"1s\"\n"})
	rec := w.broker.Subscribe(t, "dt/pi/after")
	d := w.start(t)
	defer d.stop(t)
	d.notify.waitFor(t, "STATUS=connected", 20*time.Second)
	rewriteConfig(t, w, `"dt/{thing}/before"`, `"dt/{thing}/after"`)
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if got := rec.Wait(t, 1, 30*time.Second); got[0].Topic != "dt/pi/after" {
		t.Fatalf("after the reload the broker got %+v", got)
	}
}

// TestReloadWithMissingCertificateKeepsTheConnection: a reload whose cert_file does not exist
// is refused before the running generation is stopped: the connection stays up (no
// reconnect), STATUS= and `thingd status` name the missing file, and messages still flow.
func TestReloadWithMissingCertificateKeepsTheConnection(t *testing.T) {
	w := newWorld(t, worldOptions{})
	rec := w.broker.Subscribe(t, "dt/pi/#")
	d := w.start(t)
	defer d.stop(t)
	d.notify.waitFor(t, "STATUS=connected", 20*time.Second)
	missing := filepath.Join(w.dir, "not-there.pem.crt")
	b, err := os.ReadFile(w.config)
	if err != nil {
		t.Fatal(err)
	}
	doc := regexp.MustCompile(`(?m)^cert_file = .*$`).ReplaceAllString(string(b), "cert_file = \""+missing+"\"")
	if err := os.WriteFile(w.config, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	status := d.notify.waitFor(t, "STATUS=reload failed", 10*time.Second)
	if !strings.Contains(status, "TLS files") || !strings.Contains(status, "connected to") {
		t.Errorf("STATUS= should say the TLS files are the problem and still be connected: %q", status)
	}
	out, _, _ := runThingd(t, nil, "status", "--socket", w.socket, "--json")
	var st struct {
		Connection struct {
			Connected  bool
			Reconnects int
		}
		ReloadError string `json:"reload_error"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if !st.Connection.Connected || st.Connection.Reconnects != 0 || !strings.Contains(st.ReloadError, missing) {
		t.Errorf("after the refused reload: %+v", st)
	}
	if out, errOut, code := runThingd(t, nil, "pub", "--socket", w.socket, "--qos", "1", "--topic", "dt/{thing}/x", "--message", "still here"); code != 0 {
		t.Fatalf("pub after a refused reload: exit %d: %s%s", code, out, errOut)
	}
	if got := rec.Wait(t, 1, 30*time.Second); string(got[0].Payload) != "still here" {
		t.Fatalf("broker got %+v", got)
	}
}
