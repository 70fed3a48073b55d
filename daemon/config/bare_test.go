package config

import (
	"strings"
	"testing"
)

// TestBareDurationRefused: `keepalive = 60` is an error naming file, line and key and
// showing "60s", never 60 ns; keys carry their full path; a UTF-8 BOM is accepted.
func TestBareDurationRefused(t *testing.T) {
	head := "version = 1\n[mqtt]\nendpoint = \"a1-ats.iot.eu-west-1.amazonaws.com\"\nclient_id = \"pi\"\n"
	cases := []struct{ doc, want string }{
		{head + "keepalive = 60\n", `/etc/thingd.toml:5: mqtt.keepalive: 60 is a number without a unit; a duration is a quoted string with one: write "60s"`},
		{head + "[[telemetry]]\ntopic = \"dt/a\"\ninterval = 30 # seconds\n", `/etc/thingd.toml:7: telemetry[0].interval: 30 is a number`},
		{head + "port = \"x\"\n", `/etc/thingd.toml:5: mqtt.port: found a string`},
		{head + "[[telemetry]]\ntopic = \"dt/a\"\n[[telemetry]]\nbogus = 1\n", `/etc/thingd.toml:8: telemetry[1].bogus: unknown key`},
	}
	for _, c := range cases {
		_, err := Parse("/etc/thingd.toml", []byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q:\n got %v\nwant %s", c.doc, err, c.want)
		}
	}
	cfg, err := Parse("/etc/thingd.toml", []byte("\ufeff"+head+"keepalive = \"90s\"\n"))
	if err != nil {
		t.Fatalf("with a BOM: %v", err)
	}
	if cfg.MQTT.Keepalive.D().Seconds() != 90 {
		t.Fatalf("keepalive %v", cfg.MQTT.Keepalive.D())
	}
}
