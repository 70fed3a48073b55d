package main

import (
	"crypto/tls"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"thingd/internal/testbed"
	"thingd/internal/testbed/awsiot"
)

// provWorld is an AWS world whose device has only the fleet's claim certificate: mqtt.cert_file
// and key_file point at files that do not exist, and [provisioning] uses template "fleet",
// which names the thing pi-{SerialNumber}. The policy lets a client publish only to the
// provisioning API and to dt/<its own client ID>/..., so telemetry proves the new identity.
type provWorld struct {
	*world
	b     *awsiot.Broker
	svc   *awsiot.Provisioning
	ident string // the identity directory
}

func newProvWorld(t *testing.T, template string) *provWorld {
	t.Helper()
	svc, err := awsiot.NewProvisioning(awsiot.ProvisioningOptions{Templates: map[string]awsiot.Template{
		"fleet": {Parameters: []string{"SerialNumber"}, ThingName: "pi-{SerialNumber}"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	w, b := newAWSWorld(t, awsiot.Options{Services: []awsiot.Service{svc}, Policy: &awsiot.Policy{Publish: []string{
		"$aws/certificates/create-from-csr/json", "$aws/provisioning-templates/+/provision/json", "dt/${iot:ClientId}/#",
	}}}, "")
	doc, err := os.ReadFile(w.config)
	if err != nil {
		t.Fatal(err)
	}
	claim := map[string]string{}
	for _, k := range []string{"cert_file", "key_file"} {
		re := regexp.MustCompile(`(?m)^` + k + ` = "(.*)"$`)
		m := re.FindSubmatch(doc)
		if m == nil {
			t.Fatalf("no %s in %s", k, doc)
		}
		claim[k] = string(m[1])
		doc = re.ReplaceAll(doc, []byte(k+` = "`+filepath.Join(w.dir, "no-such-"+k)+`"`))
	}
	pw := &provWorld{world: w, b: b, svc: svc, ident: filepath.Join(w.dir, "identity")}
	doc = append(doc, []byte(`
[provisioning]
template = "`+template+`"
claim_cert = "`+claim["cert_file"]+`"
claim_key = "`+claim["key_file"]+`"
dir = "`+pw.ident+`"
timeout = "30s"
parameters = { SerialNumber = "0042", Site = "lab-3" }
`)...)
	if err := os.WriteFile(w.config, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	return pw
}

// startRun starts `thingd run` without waiting for READY=1.
func (w *provWorld) startRun(t *testing.T) *daemonProc {
	t.Helper()
	n := listenNotify(t)
	cmd := testbed.DaemonCommand(t, binary, "run", "--config", w.config)
	p := &daemonProc{cmd: cmd, log: &syncBuffer{}, notify: n, done: make(chan error, 1)}
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+n.path)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("thingd log:\n%s", p.log.String())
		}
	})
	return p
}

func (p *daemonProc) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case err := <-p.done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		return 0
	case <-time.After(60 * time.Second):
		t.Fatal("thingd did not exit")
		return -1
	}
}

// keyFiles lists every private key, final or pending, in the identity directory.
func (w *provWorld) keyFiles(t *testing.T) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(w.ident, "*key*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// deliversTelemetry: a message queued through the daemon reaches dt/pi-0042/... from client
// pi-0042, which the policy allows only for the provisioned identity.
func (w *provWorld) deliversTelemetry(t *testing.T, rec *awsiot.Recorder) {
	t.Helper()
	if out, errOut, code := runThingd(t, nil, "pub", "--socket", w.socket, "--qos", "1", "--topic", "dt/{thing}/hello", "--message", "first light"); code != 0 {
		t.Fatalf("thingd pub: exit %d: %s%s", code, out, errOut)
	}
	got, err := rec.Wait(1, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Topic != "dt/pi-0042/hello" || string(got[0].Payload) != "first light" || got[0].ClientID != "pi-0042" {
		t.Fatalf("the broker got %+v", got[0])
	}
}

// checkIdentity: one key on disk, paired with the certificate, which the broker issued,
// activated and registered to thing pi-0042.
func (w *provWorld) checkIdentity(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(w.ident, "identity.json"))
	if err != nil {
		t.Fatal(err)
	}
	var id struct {
		Thing    string `json:"thing_name"`
		ClientID string `json:"client_id"`
		Cert     string `json:"cert_file"`
		Key      string `json:"key_file"`
		CertID   string `json:"certificate_id"`
	}
	if err := json.Unmarshal(b, &id); err != nil || id.Thing != "pi-0042" || id.ClientID != "pi-0042" {
		t.Fatalf("identity %s: %v", b, err)
	}
	if k := w.keyFiles(t); len(k) != 1 || k[0] != id.Key {
		t.Fatalf("keys on disk %q, identity's key %s", k, id.Key)
	}
	if st, err := os.Stat(id.Key); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key %s: %v %v", id.Key, st, err)
	}
	if _, err := tls.LoadX509KeyPair(id.Cert, id.Key); err != nil {
		t.Fatalf("certificate and key are not a pair: %v", err)
	}
	var active []awsiot.IssuedCertificate
	for _, c := range w.svc.Certificates() {
		if c.State == awsiot.CertActive {
			active = append(active, c)
		}
	}
	if len(active) != 1 || active[0].ID != id.CertID || active[0].ThingName != "pi-0042" {
		t.Fatalf("active certificates %+v, identity %+v", active, id)
	}
}

// TestRunProvisionsByClaimThenDeliversTelemetry: a fresh device with only a claim
// certificate provisions itself before READY=1 (STATUS= says so), then runs with the
// permanent identity and delivers telemetry; a restart does not provision again.
func TestRunProvisionsByClaimThenDeliversTelemetry(t *testing.T) {
	w := newProvWorld(t, "fleet")
	rec, err := w.b.Subscribe("dt/#")
	if err != nil {
		t.Fatal(err)
	}
	p := w.start(t)
	if st := strings.Join(p.notify.all(), "\n"); !strings.Contains(st, "STATUS=provisioning") || !strings.Contains(st, "EXTEND_TIMEOUT_USEC=") {
		t.Errorf("no STATUS= line about provisioning, or no start timeout extension, before READY=1: %q", st)
	}
	w.deliversTelemetry(t, rec)
	w.checkIdentity(t)
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	p = w.start(t)
	defer p.stop(t)
	if c := w.svc.Calls(); c.CreateFromCSR != 1 || c.RegisterThing != 1 {
		t.Fatalf("a provisioned device asked again: %+v", c)
	}
	if out, _, code := runThingd(t, nil, "provision", "--config", w.config); code != 0 || !strings.Contains(out, "already provisioned as pi-0042") {
		t.Fatalf("thingd provision on a provisioned device: exit %d: %s", code, out)
	}
}

// TestProvisionRejected: a template whose pre-provisioning hook refuses the device makes
// `thingd provision` exit 1 with AWS's statusCode, errorCode and errorMessage and the likely
// fix; a template AWS does not know makes `thingd run` exit 2 (a config error, no restart
// helps) before READY=1. Nothing is committed and no key is left behind.
func TestProvisionRejected(t *testing.T) {
	w := newProvWorld(t, "fleet")
	w.svc.RejectRegister(&awsiot.ProvisioningError{StatusCode: 403, ErrorCode: "AccessDenied", ErrorMessage: "device not in the allow list"})
	out, errOut, code := runThingd(t, nil, "provision", "--config", w.config)
	if code != exitFailure {
		t.Fatalf("exit %d, want %d: %s%s", code, exitFailure, out, errOut)
	}
	for _, want := range []string{"statusCode 403", `errorCode "AccessDenied"`, "device not in the allow list", "likely fix", "pre-provisioning hook"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(w.ident, "identity.json")); !os.IsNotExist(err) {
		t.Fatalf("identity after a rejection: %v", err)
	}

	doc, _ := os.ReadFile(w.config)
	doc = []byte(strings.Replace(string(doc), `template = "fleet"`, `template = "fleet-typo"`, 1))
	if err := os.WriteFile(w.config, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	p := w.startRun(t)
	if code := p.exitCode(t); code != exitUsage {
		t.Fatalf("thingd run with an unknown template: exit %d, want %d", code, exitUsage)
	}
	log := p.log.String()
	for _, want := range []string{"statusCode 404", "ResourceNotFound", "provisioning.template"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if st := strings.Join(p.notify.all(), "\n"); strings.Contains(st, "READY=1") || !strings.Contains(st, "STATUS=provisioning failed") {
		t.Errorf("notifications %q", st)
	}
	if k := w.keyFiles(t); len(k) != 0 {
		// A rejected attempt removes its own pending key.
		t.Fatalf("keys left: %q", k)
	}
	// No daemon runs, so `thingd status` says why from what the failed run recorded.
	_, errOut, code = runThingd(t, nil, "status", "--config", w.config)
	if code == 0 || !strings.Contains(errOut, "provisioning by claim failed") || !strings.Contains(errOut, "ResourceNotFound") {
		t.Errorf("thingd status after a failed provisioning: exit %d, stderr:\n%s", code, errOut)
	}
}

// TestProvisionKill9AtEachStep: kill -9 while the device waits for CreateCertificateFromCsr,
// then for RegisterThing; each restart starts over cleanly and ends with one key, paired with
// the one certificate the broker activated, and telemetry flowing.
func TestProvisionKill9AtEachStep(t *testing.T) {
	w := newProvWorld(t, "fleet")
	rec, err := w.b.Subscribe("dt/#")
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		silence func(bool)
		reached func(awsiot.ProvisioningCalls) bool
		pending []string
	}{
		{"CreateCertificateFromCsr", w.svc.SilenceCreate, func(c awsiot.ProvisioningCalls) bool { return c.CreateFromCSR >= 1 },
			[]string{"device.private.key.pending"}},
		{"RegisterThing", w.svc.SilenceRegister, func(c awsiot.ProvisioningCalls) bool { return c.RegisterThing >= 1 },
			[]string{"device.cert.pem.pending", "device.private.key.pending"}},
	}
	for _, s := range steps {
		s.silence(true)
		p := w.startRun(t)
		deadline := time.Now().Add(60 * time.Second)
		for !s.reached(w.svc.Calls()) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the device never asked", s.name)
			}
			time.Sleep(20 * time.Millisecond)
		}
		p.kill9(t)
		s.silence(false)
		var names []string
		entries, _ := os.ReadDir(w.ident)
		for _, e := range entries {
			if e.Name() != ".lock" { // the lock file stays; it holds no key
				names = append(names, e.Name())
			}
		}
		if strings.Join(names, " ") != strings.Join(s.pending, " ") {
			t.Fatalf("killed waiting for %s: files %q, want %q", s.name, names, s.pending)
		}
	}
	p := w.start(t)
	defer p.stop(t)
	w.deliversTelemetry(t, rec)
	w.checkIdentity(t)
	if n := len(w.svc.Certificates()); n != 2 {
		t.Fatalf("%d certificates issued, want 2 (one abandoned, one active)", n)
	}
}
