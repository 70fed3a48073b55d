package config

import (
	"strings"
	"testing"
)

func shadowBase(t *testing.T, extra string) *Config {
	t.Helper()
	cfg, err := Parse("/etc/thingd/thingd.toml", []byte(`version = 1
[mqtt]
endpoint = "a1-ats.iot.eu-west-1.amazonaws.com"
client_id = "pi"
[[telemetry]]
topic = "dt/{thing}/a"
[[telemetry]]
topic = "dt/{thing}/b"
interval = "30s"
`+extra))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestWithSettingUsesTheFileRules: a desired setting passes or fails exactly as the same
// value in the file would, and never changes the config it starts from.
func TestWithSettingUsesTheFileRules(t *testing.T) {
	cfg := shadowBase(t, "[shadow]\nlock = [\"log.level\"]\n")
	c, err := cfg.WithSetting(SettingTelemetryInterval, "10s")
	if err != nil {
		t.Fatal(err)
	}
	if c.Telemetry[0].Interval.D().String() != "10s" || c.Telemetry[1].Interval.D().String() != "10s" {
		t.Fatalf("telemetry %+v", c.Telemetry)
	}
	if cfg.Telemetry[1].Interval.D().String() != "30s" {
		t.Fatal("WithSetting changed the config it started from")
	}
	if v, ok := c.SettingValue(SettingTelemetryInterval); !ok || v != "10s" {
		t.Fatalf("setting value %v %v", v, ok)
	}
	if _, ok := cfg.SettingValue(SettingTelemetryInterval); ok {
		t.Fatal("two different intervals reported as one")
	}
	if c, err := cfg.WithSetting(SettingMaxPublishRate, 50.0); err != nil || c.MQTT.MaxPublishRate != 50 {
		t.Fatalf("rate: %v", err)
	}
	for _, tc := range []struct {
		key  string
		v    any
		want string
	}{
		{SettingTelemetryInterval, "100ms", `use at least "1s"`},
		{SettingTelemetryInterval, "10", `write it like "60s"`},
		{SettingTelemetryInterval, 10.0, "expected a quoted duration"},
		{SettingMaxPublishRate, -1.0, "use 0 (unlimited) or a positive rate"},
		{SettingMaxPublishRate, 2.5, "whole number"},
		{SettingLogLevel, "debug", "locked by shadow.lock in /etc/thingd/thingd.toml"},
		{"queue.dir", "/tmp", "not a setting the shadow can change"},
	} {
		_, err := cfg.WithSetting(tc.key, tc.v)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s = %v: error %v, want %q", tc.key, tc.v, err, tc.want)
		}
	}
	if _, err := shadowBase(t, "").WithSetting(SettingLogLevel, "loud"); err == nil || !strings.Contains(err.Error(), "use debug, info, warn or error") {
		t.Errorf("log level: %v", err)
	}
}

func TestShadowSectionValidated(t *testing.T) {
	for extra, want := range map[string]string{
		"[shadow]\nname = \"$bad\"\n":        "shadow.name",
		"[shadow]\ninterval = \"10ms\"\n":    "shadow.interval",
		"[shadow]\nlock = [\"queue.dir\"]\n": "shadow.lock[0]",
		"[shadow]\nlocal = [\"a/b\"]\n":      "shadow.local[0]",
	} {
		_, err := Parse("/etc/thingd/thingd.toml", []byte("version = 1\n[mqtt]\nendpoint = \"h\"\nclient_id = \"pi\"\n"+extra))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v", extra, err)
		}
	}
	cfg := shadowBase(t, "[shadow]\nenabled = true\nname = \"thingd\"\n")
	if !cfg.Shadow.Enabled || cfg.Shadow.Name != "thingd" || cfg.ShadowStateFile() != "/var/lib/thingd/shadow.json" {
		t.Fatalf("shadow %+v %s", cfg.Shadow, cfg.ShadowStateFile())
	}
}
