package main

import (
	"path/filepath"
	"testing"

	"thingd/daemon/config"
)

// The written file passes thingd's own strict loader, with the topics expanded for the demo
// thing and the clock forbidden to step.
func TestConfigLoadsInThingd(t *testing.T) {
	dir := t.TempDir()
	c := demoConfig{Dir: dir, BrokerPort: 18883, CAFile: filepath.Join(dir, "ca.crt"),
		ClaimCert: filepath.Join(dir, "device-1.crt"), ClaimKey: filepath.Join(dir, "device-1.key"), NTPAddr: "127.0.0.1:10123"}
	if err := c.write(); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(c.path())
	if err != nil {
		t.Fatalf("thingd rejects the demo config: %v", err)
	}
	if cfg.Clock.Step != "never" {
		t.Errorf("clock.step = %q, want never", cfg.Clock.Step)
	}
	if len(cfg.Telemetry) != 1 || cfg.Telemetry[0].Topic != "dt/demo-pi/system" {
		t.Errorf("telemetry = %+v, want one entry on dt/demo-pi/system", cfg.Telemetry)
	}
	if len(cfg.Subscribe) != 1 || cfg.Subscribe[0].Topic != "cmd/demo-pi/#" || cfg.Subscribe[0].File != c.commandFile() {
		t.Errorf("subscribe = %+v, want cmd/demo-pi/# into %s", cfg.Subscribe, c.commandFile())
	}
	if cfg.Provisioning.Template != demoTemplate || cfg.Provisioning.ClaimCert != c.ClaimCert {
		t.Errorf("provisioning = %+v, want template %s with the claim certificate", cfg.Provisioning, demoTemplate)
	}
	if cfg.MQTT.Port != 18883 || cfg.Clock.Servers[0] != "127.0.0.1:10123" || cfg.Local.Socket != c.socket() {
		t.Errorf("port %d, clock servers %v, socket %s do not match what was written", cfg.MQTT.Port, cfg.Clock.Servers, cfg.Local.Socket)
	}
}
