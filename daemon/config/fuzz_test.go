package config

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse: no input makes the parser panic, every refusal is a located ValidationError,
// and anything accepted satisfies the invariants the daemon relies on.
func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("version = 1\n[mqtt]\nendpoint = \"x\"\nclient_id = \"c\"\nport = 443\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		cfg, err := Parse("f.toml", doc)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 || !strings.HasPrefix(err.Error(), "f.toml") {
				t.Fatalf("unlocated error: %v", err)
			}
			return
		}
		if cfg.Version != 1 || cfg.MQTT.Port < 1 || cfg.MQTT.Port > 65535 || cfg.MQTT.ClientID == "" ||
			len(cfg.MQTT.ClientID) > 128 || cfg.Queue.MaxBytes < 1<<20 || (cfg.Clock.Step != "auto" && cfg.Clock.Step != "never") {
			t.Fatalf("accepted an invalid config: %+v", cfg)
		}
		for _, tl := range cfg.Telemetry {
			if strings.Contains(tl.Topic, "{thing}") || tl.Interval.D() <= 0 {
				t.Fatalf("accepted telemetry %+v", tl)
			}
		}
	})
}
