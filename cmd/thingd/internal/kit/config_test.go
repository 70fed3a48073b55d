package kit

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"thingd/daemon/config"
)

// TestSetupConfigLoads: the config written from a kit passes the daemon's strict
// loader, carries the kit's values, and leaves every other setting at the default.
func TestSetupConfigLoads(t *testing.T) {
	k := &Kit{Thing: "MyThing", Endpoint: testEndpoint, ClientID: "basicPubSub", Topic: "sdk/test/python", Policy: consolePolicy}
	s := k.Setup("connect_device_package.zip", "certs/MyThing.cert.pem", "certs/MyThing.private.key")
	path := filepath.Join(t.TempDir(), "thingd.toml")
	cfg, err := config.Parse(path, s.Config)
	if err != nil {
		t.Fatalf("%v\n%s", err, s.Config)
	}
	m := cfg.MQTT
	if m.Endpoint != testEndpoint || m.ClientID != "basicPubSub" || m.ThingName != "MyThing" || m.CAFile != "" ||
		m.CertFile != filepath.Join(filepath.Dir(path), "certs/MyThing.cert.pem") || m.Port != 8883 {
		t.Errorf("mqtt: %+v", m)
	}
	if len(cfg.Telemetry) != 1 || cfg.Telemetry[0].Topic != "dt/MyThing/system" || len(cfg.Subscribe) != 0 {
		t.Errorf("telemetry %+v, subscribe %+v", cfg.Telemetry, cfg.Subscribe)
	}
	d := config.Defaults()
	if !reflect.DeepEqual(cfg.Clock, d.Clock) || !reflect.DeepEqual(cfg.Queue, d.Queue) || cfg.Local != d.Local ||
		cfg.Log != d.Log || m.Keepalive != d.MQTT.Keepalive || m.MaxPublishRate != d.MQTT.MaxPublishRate {
		t.Errorf("a setting drifted from config.Defaults():\n%s", s.Config)
	}
	text := strings.ReplaceAll(string(s.Config), "\n#   ", " ") // unwrap the notes
	for _, want := range []string{`"sdk/test/python"`, "# [[subscribe]]", "connect_device_package.zip", "does not let this device publish to dt/MyThing/system"} {
		if !strings.Contains(text, want) {
			t.Errorf("config lacks %q:\n%s", want, text)
		}
	}
	if len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "arn:aws:iot:REGION:ACCOUNT:topic/dt/MyThing/system") {
		t.Errorf("warnings: %q", s.Warnings)
	}
}

// TestSetupWithoutEndpoint: a kit without an endpoint gives a config that says what
// to fill in, and which the loader refuses until it is filled in.
func TestSetupWithoutEndpoint(t *testing.T) {
	s := (&Kit{Thing: "T", ClientID: "c"}).Setup("k.zip", "c.pem", "k.pem")
	if !strings.Contains(string(s.Config), "# REQUIRED: set mqtt.endpoint") {
		t.Errorf("no REQUIRED note:\n%s", s.Config)
	}
	if _, err := config.Parse("/x/thingd.toml", s.Config); err == nil || !strings.Contains(err.Error(), "mqtt.endpoint") {
		t.Errorf("config without endpoint: %v", err)
	}
}

// TestSetupClientID: without --client_id the config uses an ID the policy allows.
func TestSetupClientID(t *testing.T) {
	for _, tc := range []struct {
		policy, want, note string
	}{
		{"", "T", "using the thing name"},
		{consolePolicy, "basicPubSub", "basicPubSub, the SDK sample's default"},
		{`{"Statement": {"Effect": "Allow", "Action": "iot:Connect", "Resource": "arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}"}}`, "T", "using the thing name"},
		{`{"Statement": {"Effect": "Allow", "Action": "iot:Connect", "Resource": "arn:aws:iot:*:*:client/other"}}`, "T", "does not allow the thing name"},
	} {
		s := (&Kit{Thing: "T", Endpoint: testEndpoint, Policy: tc.policy}).Setup("k.zip", "c", "k")
		if s.ClientID != tc.want || !strings.Contains(strings.Join(s.Warnings, "\n"), tc.note) {
			t.Errorf("policy %.50q: client ID %q, warnings %q; want %q and %q", tc.policy, s.ClientID, s.Warnings, tc.want, tc.note)
		}
	}
}

func TestQuote(t *testing.T) {
	for _, s := range []string{"", "plain", `a"b\c`, "line\nbreak\x00\x7f", "ünï ☃"} {
		var v struct{ X string }
		if err := toml.Unmarshal([]byte("X = "+quote(s)), &v); err != nil || v.X != s {
			t.Errorf("quote(%q) = %s reads back as %q, %v", s, quote(s), v.X, err)
		}
	}
}
