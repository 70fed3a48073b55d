package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestReferenceMatchesDefaults: the documented configuration (docs/configuration.md) is
// valid and every value it shows is the code's default, so the reference cannot drift.
func TestReferenceMatchesDefaults(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(doc), "```toml\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("no toml block in docs/configuration.md")
	}
	cfg, err := Parse("/etc/thingd/thingd.toml", []byte(block))
	if err != nil {
		t.Fatalf("the documented config does not load: %v", err)
	}
	want := Defaults()
	want.Version = 1
	want.MQTT.Endpoint, want.MQTT.ClientID = cfg.MQTT.Endpoint, cfg.MQTT.ClientID
	want.Path = cfg.Path
	want.Telemetry, want.Subscribe = cfg.Telemetry, cfg.Subscribe
	if !reflect.DeepEqual(*cfg, want) {
		t.Errorf("documented values differ from the defaults:\n doc: %+v\ncode: %+v", *cfg, want)
	}
	tl := Telemetry{Topic: "dt/raspi2-test/system"}
	telemetryDefaults(&tl, false)
	if len(cfg.Telemetry) != 1 || cfg.Telemetry[0] != tl {
		t.Errorf("[[telemetry]] %+v, defaults %+v", cfg.Telemetry, tl)
	}
	sub := Subscribe{Topic: "cmd/raspi2-test/#", Exec: []string{"/usr/local/bin/on-command"}}
	subscribeDefaults(&sub, false)
	if len(cfg.Subscribe) != 1 || !reflect.DeepEqual(cfg.Subscribe[0], sub) {
		t.Errorf("[[subscribe]] %+v, defaults %+v", cfg.Subscribe, sub)
	}
}
