package provision

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"thingd/daemon/config"
	"thingd/internal/devpki"
	"thingd/internal/testbed/awsiot"
)

type fixture struct {
	b    *awsiot.Broker
	svc  *awsiot.Provisioning
	cfg  *config.Config
	dir  string
	path string
}

// newFixture starts the AWS-like broker with fleet provisioning (template "fleet", thing name
// pi-{SerialNumber}) and writes a config whose only credential is a claim certificate.
func newFixture(t *testing.T, params string) *fixture {
	t.Helper()
	dir := t.TempDir()
	pki, err := devpki.New(devpki.Options{Dir: dir, Name: "provision test"})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := pki.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	claimCert, claimKey, err := pki.Issue("claim")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := awsiot.NewProvisioning(awsiot.ProvisioningOptions{Templates: map[string]awsiot.Template{
		"fleet": {Parameters: []string{"SerialNumber"}, ThingName: "pi-{SerialNumber}", DeviceConfiguration: map[string]string{"site": "lab"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := awsiot.Start(awsiot.Options{ServerTLS: srv, Services: []awsiot.Service{svc}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	f := &fixture{b: b, svc: svc, dir: dir, path: filepath.Join(dir, "thingd.toml")}
	doc := fmt.Sprintf(`version = 1
[mqtt]
endpoint = "localhost"
port = %d
client_id = "claim-client"
ca_file = %q
keepalive = "30s"
[clock]
servers = ["127.0.0.1:1"]
step = "never"
[provisioning]
template = "fleet"
claim_cert = %q
claim_key = %q
dir = "identity"
timeout = "20s"
parameters = { %s }
`, b.Port(), pki.CAFile, claimCert, claimKey, params)
	if err := os.WriteFile(f.path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	f.cfg = f.load(t)
	return f
}

func (f *fixture) load(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Load(f.path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func (f *fixture) run(t *testing.T) (*config.Identity, error) {
	t.Helper()
	var steps []string
	id, err := Run(context.Background(), Options{Config: f.cfg, Status: func(s string) { steps = append(steps, s) }})
	if err == nil && (len(steps) == 0 || !strings.HasPrefix(steps[0], "provisioning")) {
		t.Errorf("status lines %q", steps)
	}
	return id, err
}

// keys lists the private keys (final or pending) in the identity directory.
func keys(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "identity", "*.key*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestRunProvisionsAndTheBrokerAcceptsTheIdentity: a device with only a claim certificate
// gets a key it made, a certificate for it and a thing name; the broker accepts that pair;
// loading the config again applies the identity; a second Run changes nothing.
func TestRunProvisionsAndTheBrokerAcceptsTheIdentity(t *testing.T) {
	f := newFixture(t, `SerialNumber = "0042", Site = "lab-3"`)
	if n, err := Needed(f.cfg); err != nil || !n {
		t.Fatalf("Needed = %v, %v before provisioning", n, err)
	}
	id, err := f.run(t)
	if err != nil {
		t.Fatal(err)
	}
	if id.ThingName != "pi-0042" || id.ClientID != "pi-0042" || id.DeviceConfiguration["site"] != "lab" {
		t.Fatalf("identity %+v", id)
	}
	if f.cfg.MQTT.ClientID != "pi-0042" || f.cfg.MQTT.CertFile != id.CertFile {
		t.Fatalf("the config was not switched to the identity: %+v", f.cfg.MQTT)
	}
	st, err := os.Stat(id.KeyFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key %s: %v %v", id.KeyFile, st, err)
	}
	if k := keys(t, f.dir); len(k) != 1 || k[0] != id.KeyFile {
		t.Fatalf("keys on disk %q", k)
	}
	pair, err := tls.LoadX509KeyPair(id.CertFile, id.KeyFile)
	if err != nil {
		t.Fatalf("the written certificate and key are not a pair: %v", err)
	}
	certs := f.svc.Certificates()
	if len(certs) != 1 || certs[0].State != awsiot.CertActive || certs[0].ID != id.CertificateID ||
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pair.Certificate[0]})) == "" {
		t.Fatalf("broker certificates %+v", certs)
	}
	again := f.load(t)
	if again.MQTT.ClientID != "pi-0042" || again.MQTT.ThingName != "pi-0042" || again.MQTT.KeyFile != id.KeyFile {
		t.Fatalf("a fresh load does not apply the identity: %+v", again.MQTT)
	}
	if n, err := Needed(again); err != nil || n {
		t.Fatalf("Needed = %v, %v after provisioning", n, err)
	}
	if _, err := Run(context.Background(), Options{Config: again}); err != nil {
		t.Fatal(err)
	}
	if c := f.svc.Calls(); c.CreateFromCSR != 1 || c.RegisterThing != 1 {
		t.Fatalf("a provisioned device asked again: %+v", c)
	}
}

// TestRunRejected: AWS's statusCode, errorCode and errorMessage reach the caller with a fix,
// nothing is committed and no pending key stays behind after the next start.
func TestRunRejected(t *testing.T) {
	f := newFixture(t, `SerialNumber = "7"`)
	f.svc.RejectRegister(&awsiot.ProvisioningError{StatusCode: 403, ErrorCode: "AccessDenied", ErrorMessage: "pre-provisioning hook refused"})
	_, err := f.run(t)
	var rej *RejectedError
	if !errors.As(err, &rej) || rej.StatusCode != 403 || rej.ErrorCode != "AccessDenied" || rej.API != "RegisterThing" {
		t.Fatalf("error %v", err)
	}
	for _, want := range []string{"403", "AccessDenied", "pre-provisioning hook refused", "likely fix", "pre-provisioning hook"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	if _, err := os.Stat(f.cfg.Provisioning.IdentityFile()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("identity written after a rejection: %v", err)
	}
	if n, err := Needed(f.cfg); err != nil || !n {
		t.Fatalf("Needed = %v, %v", n, err)
	}
	if k := keys(t, f.dir); len(k) != 0 {
		t.Fatalf("keys left after a rejection and a restart: %q", k)
	}
}

// TestRunUnknownTemplate: a template AWS does not know is named in the fix.
func TestRunUnknownTemplate(t *testing.T) {
	f := newFixture(t, `SerialNumber = "7"`)
	f.cfg.Provisioning.Template = "nope"
	_, err := f.run(t)
	var rej *RejectedError
	if !errors.As(err, &rej) || rej.StatusCode != 404 || !strings.Contains(err.Error(), "provisioning.template") {
		t.Fatalf("error %v", err)
	}
}

// TestRunTimeout: a RegisterThing that never answers ends in a *TimeoutError within the
// configured timeout, the session closed.
func TestRunTimeout(t *testing.T) {
	f := newFixture(t, `SerialNumber = "7"`)
	f.cfg.Provisioning.Timeout = config.Duration(2 * time.Second)
	f.svc.SilenceRegister(true)
	_, err := f.run(t)
	var te *TimeoutError
	if !errors.As(err, &te) || !te.Sent || te.API != "RegisterThing" {
		t.Fatalf("error %v", err)
	}
}
