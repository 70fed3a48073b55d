package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"thingd/internal/testbed/awsiot"
)

// rotation waits for rotation.json to record an outcome.
func (w *provWorld) rotation(t *testing.T) map[string]any {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(w.ident, "rotation.json"))
		if err == nil {
			var st map[string]any
			if err := json.Unmarshal(b, &st); err != nil {
				t.Fatal(err)
			}
			return st
		}
		if time.Now().After(deadline) {
			t.Fatal("no rotation.json")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (w *provWorld) identityCert(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(w.ident, "identity.json"))
	if err != nil {
		t.Fatal(err)
	}
	var id struct {
		CertID string `json:"certificate_id"`
	}
	if err := json.Unmarshal(b, &id); err != nil {
		t.Fatal(err)
	}
	return id.CertID
}

// noLeftovers: exactly the committed files, no .old or .pending.
func (w *provWorld) noLeftovers(t *testing.T) {
	t.Helper()
	entries, _ := os.ReadDir(w.ident)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".old") || strings.HasSuffix(e.Name(), ".pending") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// provisionShortLived provisions with `thingd provision` a certificate valid 10 days.
func (w *provWorld) provisionShortLived(t *testing.T) string {
	t.Helper()
	w.svc.SetValidity(10 * 24 * time.Hour)
	if out, errOut, code := runThingd(t, nil, "provision", "--config", w.config); code != 0 {
		t.Fatalf("thingd provision: exit %d: %s%s", code, out, errOut)
	}
	w.svc.SetValidity(365 * 24 * time.Hour)
	return w.identityCert(t)
}

// TestRotationTenDaysBeforeExpiry: a certificate 10 days from expiry (inside the default
// 30-day margin) is replaced by the running daemon over its own connection: the new one is
// registered to the same thing, the daemon reconnects with it, and telemetry flows; `thingd
// rotate` does it again on command.
func TestRotationTenDaysBeforeExpiry(t *testing.T) {
	w := newProvWorld(t, "fleet")
	first := w.provisionShortLived(t)
	rec, err := w.b.Subscribe("dt/pi-0042/hello")
	if err != nil {
		t.Fatal(err)
	}
	queued, err := w.b.Subscribe("dt/pi-0042/queued")
	if err != nil {
		t.Fatal(err)
	}
	p := w.start(t)
	defer p.stop(t)
	// Queued while the rotation is under way: none may be lost to the change of identity.
	lines := make([]string, 50)
	for i := range lines {
		lines[i] = fmt.Sprint("q", i)
	}
	if out, errOut, code := runThingdStdin(t, strings.Join(lines, "\n")+"\n", "pub", "--socket", w.socket, "--qos", "1", "--topic", "dt/{thing}/queued", "--lines"); code != 0 {
		t.Fatalf("thingd pub --lines: exit %d: %s%s", code, out, errOut)
	}
	st := w.rotation(t)
	if st["state"] != "done" {
		t.Fatalf("rotation %v", st)
	}
	second := w.identityCert(t)
	if second == first || st["certificate_id"] != second {
		t.Fatalf("identity certificate %s (first %s), rotation %v", second, first, st)
	}
	na, err := time.Parse(time.RFC3339, st["not_after"].(string))
	if err != nil || time.Until(na) < 300*24*time.Hour {
		t.Fatalf("new certificate valid until %v (%v)", st["not_after"], err)
	}
	certs := w.svc.Certificates()
	if len(certs) != 2 || certs[1].ID != second || certs[1].State != awsiot.CertActive || certs[1].ThingName != "pi-0042" {
		t.Fatalf("broker certificates %+v", certs)
	}
	if seen := w.svc.Seen(); len(seen) == 0 || seen[len(seen)-1] != second {
		t.Fatalf("handshakes %v: the daemon is not connected with the new certificate %s", seen, second)
	}
	w.deliversTelemetry(t, rec)
	w.checkIdentity2(t, second)
	w.noLeftovers(t)
	waitAll(t, queued, lines)
	if out, _, code := runThingd(t, nil, "status", "--socket", w.socket); code != 0 || !strings.Contains(out, "last rotation done") {
		t.Fatalf("thingd status: exit %d:\n%s", code, out)
	}

	out, errOut, code := runThingd(t, nil, "rotate", "--config", w.config)
	if code != 0 || !strings.Contains(out, "rotated: certificate") {
		t.Fatalf("thingd rotate: exit %d: %s%s", code, out, errOut)
	}
	third := w.identityCert(t)
	if third == second || len(w.svc.Certificates()) != 3 {
		t.Fatalf("thingd rotate: identity %s, certificates %d", third, len(w.svc.Certificates()))
	}
	w.checkIdentity2(t, third)
	w.noLeftovers(t)
}

// checkIdentity2 is checkIdentity for a rotated device: one key, paired with the
// certificate of certID.
func (w *provWorld) checkIdentity2(t *testing.T, certID string) {
	t.Helper()
	if k := w.keyFiles(t); len(k) != 1 {
		t.Fatalf("keys on disk %q", k)
	}
	if w.identityCert(t) != certID {
		t.Fatalf("identity certificate %s, want %s", w.identityCert(t), certID)
	}
}

// TestRotationRefusedRollsBack: the template registers the new certificate INACTIVE, so the
// broker refuses it; the daemon puts the old pair back, reconnects with it, reports the
// failure and keeps delivering telemetry; `thingd rotate` then exits 1 with the reason.
func TestRotationRefusedRollsBack(t *testing.T) {
	w := newProvWorld(t, "fleet")
	first := w.provisionShortLived(t)
	before, err := os.ReadFile(filepath.Join(w.ident, "device.cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	w.svc.SetTemplate("fleet", awsiot.Template{Parameters: []string{"SerialNumber"}, ThingName: "pi-{SerialNumber}", CertificateStatus: awsiot.CertInactive})
	rec, err := w.b.Subscribe("dt/#")
	if err != nil {
		t.Fatal(err)
	}
	p := w.start(t)
	defer p.stop(t)
	st := w.rotation(t)
	if st["state"] != "failed" || !strings.Contains(st["error"].(string), "refused the new certificate") {
		t.Fatalf("rotation %v", st)
	}
	if id := w.identityCert(t); id != first {
		t.Fatalf("identity certificate %s after a failed rotation, want the old %s", id, first)
	}
	after, _ := os.ReadFile(filepath.Join(w.ident, "device.cert.pem"))
	if string(after) != string(before) {
		t.Fatal("the certificate file changed after a failed rotation")
	}
	w.noLeftovers(t)
	if k := w.keyFiles(t); len(k) != 1 {
		t.Fatalf("keys on disk %q", k)
	}
	w.deliversTelemetry(t, rec)
	if seen := w.svc.Seen(); len(seen) == 0 || seen[len(seen)-1] != first {
		t.Fatalf("handshakes %v: the daemon is not back on the old certificate %s", seen, first)
	}
	out, errOut, code := runThingd(t, nil, "rotate", "--config", w.config)
	if code != exitFailure || !strings.Contains(errOut, "rotation failed") {
		t.Fatalf("thingd rotate: exit %d: %s%s", code, out, errOut)
	}
	if id := w.identityCert(t); id != first {
		t.Fatalf("identity certificate %s, want %s", id, first)
	}
	if out, _, code := runThingd(t, nil, "status", "--socket", w.socket); code != 0 || !strings.Contains(out, "last rotation failed") {
		t.Fatalf("thingd status: exit %d:\n%s", code, out)
	}
}

// waitAll waits until every payload of want arrived at least once (at least once allows
// duplicates around a reconnect).
func waitAll(t *testing.T, rec *awsiot.Recorder, want []string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := map[string]bool{}
		for _, m := range rec.Messages() {
			got[string(m.Payload)] = true
		}
		missing := 0
		for _, w := range want {
			if !got[w] {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d queued messages never arrived", missing, len(want))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func runThingdStdin(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

// TestRotationKill9: kill -9 while the daemon waits for RegisterThing of a rotation; the
// restarted daemon still uses the old pair, discards the half-made one and rotates cleanly.
func TestRotationKill9(t *testing.T) {
	w := newProvWorld(t, "fleet")
	first := w.provisionShortLived(t)
	w.svc.SilenceRegister(true)
	p := w.start(t)
	deadline := time.Now().Add(60 * time.Second)
	for w.svc.Calls().RegisterThing < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the daemon never asked to register a new certificate")
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.kill9(t)
	w.svc.SilenceRegister(false)
	if id := w.identityCert(t); id != first {
		t.Fatalf("identity %s after kill -9 mid-rotation, want the old %s", id, first)
	}
	if _, err := tls.LoadX509KeyPair(filepath.Join(w.ident, "device.cert.pem"), filepath.Join(w.ident, "device.private.key")); err != nil {
		t.Fatalf("after kill -9 mid-rotation the certificate and key are not a pair: %v", err)
	}
	rec, err := w.b.Subscribe("dt/#")
	if err != nil {
		t.Fatal(err)
	}
	p = w.start(t)
	defer p.stop(t)
	if st := w.rotation(t); st["state"] != "done" {
		t.Fatalf("rotation %v", st)
	}
	certs := w.svc.Certificates()
	if len(certs) != 3 || certs[1].State != awsiot.CertPendingActivation || certs[2].State != awsiot.CertActive {
		t.Fatalf("certificates %+v: want the provisioned one, the abandoned one, the rotated one", certs)
	}
	w.checkIdentity2(t, certs[2].ID)
	w.noLeftovers(t)
	w.deliversTelemetry(t, rec)
}
