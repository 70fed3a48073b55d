package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const provBase = `version = 1
[mqtt]
endpoint = "example.com"
client_id = "claim-id"
[[telemetry]]
topic = "dt/{thing}/system"
`

// TestProvisioningIdentityOverridesMQTT: once identity.json exists, it names the client, the
// thing (also in expanded topics) and the certificate files; relative paths follow the file.
func TestProvisioningIdentityOverridesMQTT(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "thingd.toml")
	doc := provBase + `[provisioning]
template = "fleet"
claim_cert = "claim.crt"
claim_key = "claim.key"
dir = "id"
`
	cfg, err := Parse(path, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Provisioning
	if p.ClaimCert != filepath.Join(dir, "claim.crt") || p.Dir != filepath.Join(dir, "id") ||
		p.KeyFile != filepath.Join(dir, "id", "device.private.key") || p.CertFile != filepath.Join(dir, "id", "device.cert.pem") {
		t.Fatalf("paths %+v", p)
	}
	if cfg.MQTT.ClientID != "claim-id" || cfg.Telemetry[0].Topic != "dt/claim-id/system" {
		t.Fatalf("before provisioning: %+v %+v", cfg.MQTT, cfg.Telemetry)
	}
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	id := `{"thing_name": "pi-1", "client_id": "pi-1", "cert_file": "/x/c.pem", "key_file": "/x/k.key"}`
	if err := os.WriteFile(p.IdentityFile(), []byte(id), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err = Parse(path, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.MQTT
	if m.ClientID != "pi-1" || m.ThingName != "pi-1" || m.CertFile != "/x/c.pem" || m.KeyFile != "/x/k.key" || cfg.Telemetry[0].Topic != "dt/pi-1/system" {
		t.Fatalf("after provisioning: %+v %+v", m, cfg.Telemetry)
	}
	if err := os.WriteFile(p.IdentityFile(), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(path, []byte(doc)); err == nil || !strings.Contains(err.Error(), "identity.json") {
		t.Fatalf("a broken identity file: %v", err)
	}
}

func TestProvisioningValidation(t *testing.T) {
	for _, tc := range []struct{ section, want string }{
		{`template = "has space"`, "provisioning.template"},
		{`template = "fleet"`, "claim_cert and claim_key"},
		{"template = \"fleet\"\nclaim_cert = \"a\"\nclaim_key = \"b\"\nparameters = { S = \"${serail}\" }", "provisioning.parameters.S"},
		{"template = \"fleet\"\nclaim_cert = \"a\"\nclaim_key = \"b\"\ntimeout = \"0s\"", "provisioning.timeout"},
		{"template = \"fleet\"\nclaim_cert = \"a\"\nclaim_key = \"b\"\nunknown = 1", "unknown key"},
	} {
		_, err := Parse(filepath.Join(t.TempDir(), "t.toml"), []byte(provBase+"[provisioning]\n"+tc.section+"\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.section, err, tc.want)
		}
	}
	if _, err := Parse("/t.toml", []byte(provBase+"[provisioning]\ntemplate = \"fleet\"\nclaim_cert = \"a\"\nclaim_key = \"b\"\nparameters = { S = \"${serial}\", M = \"${mac:eth0}\", F = \"x\" }\n")); err != nil {
		t.Fatal(err)
	}
}
