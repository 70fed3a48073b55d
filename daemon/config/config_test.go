package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const good = `version = 1

[mqtt]
endpoint   = "a1b2c3d4e5-ats.iot.ap-northeast-1.amazonaws.com"
client_id  = "raspi2-test"
cert_file  = "certs/device.cert.pem"
key_file   = "/etc/thingd/certs/device.private.key"

[[telemetry]]
topic = "dt/{thing}/system"

[[subscribe]]
topic = "cmd/{thing}/#"
exec  = ["/usr/local/bin/on-command"]
`

// TestDefaults: a minimal file gets every documented default (DESIGN.md §4).
func TestDefaults(t *testing.T) {
	cfg, err := Parse("/etc/thingd/thingd.toml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string][2]any{
		"port":        {cfg.MQTT.Port, 8883},
		"thing":       {cfg.Thing(), "raspi2-test"},
		"keepalive":   {cfg.MQTT.Keepalive.D(), 60 * time.Second},
		"rate":        {cfg.MQTT.MaxPublishRate, 100},
		"servers":     {strings.Join(cfg.Clock.Servers, ","), "time.aws.com,pool.ntp.org"},
		"step":        {cfg.Clock.Step, "auto"},
		"state":       {cfg.Clock.StateFile, "/var/lib/thingd/clock"},
		"queue":       {cfg.Queue.Dir, "/var/lib/thingd/queue"},
		"max_bytes":   {int64(cfg.Queue.MaxBytes), int64(64 << 20)},
		"socket":      {cfg.Local.Socket, "/run/thingd/thingd.sock"},
		"level":       {cfg.Log.Level, "info"},
		"cert (rel)":  {cfg.MQTT.CertFile, "/etc/thingd/certs/device.cert.pem"},
		"topic":       {cfg.Telemetry[0].Topic, "dt/raspi2-test/system"},
		"interval":    {cfg.Telemetry[0].Interval.D(), 60 * time.Second},
		"sub topic":   {cfg.Subscribe[0].Topic, "cmd/raspi2-test/#"},
		"sub timeout": {cfg.Subscribe[0].Timeout.D(), 30 * time.Second},
		"tel qos":     {cfg.Telemetry[0].QoS, 1},
		"sub qos":     {cfg.Subscribe[0].QoS, 1},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %v, want %v", name, c[0], c[1])
		}
	}
}

// TestErrorsNameFileLineKey: every kind of bad input names the file, the line and the key.
func TestErrorsNameFileLineKey(t *testing.T) {
	tests := []struct {
		name, edit string // edit replaces the line `client_id  = "raspi2-test"` (line 5)
		line       int
		key, msg   string
	}{
		{"unknown key", `client_idd = "x"`, 5, "mqtt.client_idd", "unknown key"},
		{"wrong type", `port = "8883"`, 5, "mqtt.port", ""},
		{"bad duration", `keepalive = "60"` + "\nclient_id = \"c\"", 5, "mqtt.keepalive", "not a duration"},
		{"port range", `port = 70000` + "\nclient_id = \"c\"", 5, "mqtt.port", "not a TCP port"},
		{"client id too long", `client_id = "` + strings.Repeat("x", 129) + `"`, 5, "mqtt.client_id", "at most 128"},
		{"client id $", `client_id = "$x"`, 5, "mqtt.client_id", "reserves"},
		{"aws keepalive", `keepalive = "10s"` + "\nclient_id = \"c\"", 5, "mqtt.keepalive", "30s to 1200s"},
		{"missing client id", `proxy = ""`, 3, "mqtt.client_id", "empty"},
		{"bad proxy", `proxy = "socks5://h:1"` + "\nclient_id = \"c\"", 5, "mqtt.proxy", "http://host:port"},
		{"syntax", `client_id = "x`, 5, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := strings.Replace(good, `client_id  = "raspi2-test"`, tt.edit, 1)
			_, err := Parse("/cfg/bad.toml", []byte(doc))
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotFound) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("not a ValidationError: %v", err)
			}
			p := ve.Problems[0]
			if p.File != "/cfg/bad.toml" || p.Line != tt.line || (tt.key != "" && p.Key != tt.key) || !strings.Contains(p.Msg, tt.msg) {
				t.Errorf("got %+v, want line %d key %q msg ~%q", p, tt.line, tt.key, tt.msg)
			}
			if want := "/cfg/bad.toml:"; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("message %q does not start with %q", err, want)
			}
		})
	}
}

func TestSizes(t *testing.T) {
	for in, want := range map[string]int64{"64MiB": 64 << 20, "512KiB": 512 << 10, "1GB": 1e9, "2000000": 2e6, "3 MiB": 3 << 20} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"64MB/s", "-1", "lots", "1.5MiB", ""} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
	doc := good + "\n[queue]\nmax_bytes = \"64 bananas\"\n"
	_, err := Parse("q.toml", []byte(doc))
	if err == nil || !strings.Contains(err.Error(), "q.toml:17") || !strings.Contains(err.Error(), "queue.max_bytes") {
		t.Errorf("bad size error = %v", err)
	}
}

func TestVersionRequired(t *testing.T) {
	_, err := Parse("v.toml", []byte(strings.Replace(good, "version = 1", "", 1)))
	if err == nil || !strings.Contains(err.Error(), "version: missing") {
		t.Errorf("got %v", err)
	}
	_, err = Parse("v.toml", []byte(strings.Replace(good, "version = 1", "version = 2", 1)))
	if err == nil || !strings.Contains(err.Error(), "v.toml:1: version") {
		t.Errorf("got %v", err)
	}
}

func TestSubscribeAndTelemetryChecks(t *testing.T) {
	tests := map[string]string{
		"subscribe[0]":                  "[[subscribe]]\ntopic = \"a/b\"\n",
		"subscribe[0].exec":             "[[subscribe]]\ntopic = \"a/b\"\nexec = [\"on-command\"]\n",
		"subscribe[0].topic":            "[[subscribe]]\ntopic = \"a/#/b\"\nfile = \"/x\"\n",
		"telemetry[0].topic":            "[[telemetry]]\ntopic = \"dt/+/x\"\n",
		"telemetry[0].interval":         "[[telemetry]]\ntopic = \"dt/x\"\ninterval = \"10ms\"\n",
		"telemetry[0].qos":              "[[telemetry]]\ntopic = \"dt/x\"\nqos = 2\n",
		"clock.servers[1]":              "[clock]\nservers = [\"a\", \"b:notaport\"]\n",
		"clock.step":                    "[clock]\nstep = \"sometimes\"\n",
		"log.level":                     "[log]\nlevel = \"chatty\"\n",
		"queue.max_bytes":               "[queue]\nmax_bytes = \"1KiB\"\n",
		"mqtt.endpoint":                 "[mqtt]\nendpoint = \"mqtts://x:8883\"\nclient_id = \"c\"\n",
		"mqtt.thing_name":               "[mqtt]\nendpoint = \"x\"\nclient_id = \"c\"\nthing_name = \"a/b\"\n",
		"mqtt.max_publish_rate":         "[mqtt]\nendpoint = \"x\"\nclient_id = \"c\"\nmax_publish_rate = -1\n",
		"mqtt.keepalive":                "[mqtt]\nendpoint = \"localhost\"\nclient_id = \"c\"\nkeepalive = \"0s\"\n",
		"subscribe[0].timeout":          "[[subscribe]]\ntopic = \"a\"\nfile = \"/x\"\ntimeout = \"-1s\"\n",
		"mqtt.client_id (empty)":        "[mqtt]\nendpoint = \"x\"\n",
		"subscribe[0].concurrency":      "[[subscribe]]\ntopic = \"a\"\nexec = [\"/bin/true\"]\nconcurrency = 17\n",
		"subscribe[0].concurrency (-1)": "[[subscribe]]\ntopic = \"a\"\nexec = [\"/bin/true\"]\nconcurrency = -1\n",
	}
	base := "version = 1\n[mqtt]\nendpoint = \"localhost\"\nclient_id = \"c\"\n"
	for key, extra := range tests {
		t.Run(key, func(t *testing.T) {
			doc := base + extra
			if strings.HasPrefix(extra, "[mqtt]") {
				doc = "version = 1\n" + extra
			}
			_, err := Parse("t.toml", []byte(doc))
			want := strings.Fields(key)[0] + ":"
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("got %v, want a problem for %s", err, want)
			}
		})
	}
}

func TestLoadMissingAndPrecedence(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.toml")
	_, err := Load(missing)
	if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v", err)
	}
	t.Setenv(EnvPath, "")
	if got := Resolve(""); got != DefaultPath {
		t.Errorf("Resolve() = %q", got)
	}
	t.Setenv(EnvPath, "/env.toml")
	if got := Resolve(""); got != "/env.toml" {
		t.Errorf("Resolve with env = %q", got)
	}
	if got := Resolve("/flag.toml"); got != "/flag.toml" {
		t.Errorf("Resolve with flag = %q", got)
	}
	p := filepath.Join(dir, "ok.toml")
	if err := os.WriteFile(p, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MQTT.CertFile != filepath.Join(dir, "certs/device.cert.pem") {
		t.Errorf("relative cert_file resolved to %q", cfg.MQTT.CertFile)
	}
}

func TestSplitServer(t *testing.T) {
	for in, want := range map[string]Server{
		"time.aws.com": {"time.aws.com", 123}, "127.0.0.1:1234": {"127.0.0.1", 1234},
		"[::1]:99": {"::1", 99}, "::1": {"::1", 123},
	} {
		got, err := SplitServer(in)
		if err != nil || got != want {
			t.Errorf("SplitServer(%q) = %v, %v", in, got, err)
		}
	}
}

// TestSyntaxErrorNamesKey: a line that does not parse is still reported with its key,
// inside a table or at the top level.
func TestSyntaxErrorNamesKey(t *testing.T) {
	for doc, want := range map[string]string{
		"version = 1\nfoo = 0x\n":                                                     "s.toml:2: foo:",
		"version = 1\n[mqtt]\nendpoint = \"x\"\nport = 0x\n":                          "s.toml:4: mqtt.port:",
		"version = 1\n[[telemetry]]\ntopic = \"a\"\n[[telemetry]]\ninterval = \"1s\n": "s.toml:5: telemetry[1].interval:",
	} {
		_, err := Parse("s.toml", []byte(doc))
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("got %v, want prefix %q", err, want)
		}
	}
}

func TestExplicitQoSZeroStays(t *testing.T) {
	doc := strings.Replace(good, `topic = "dt/{thing}/system"`, "topic = \"dt/{thing}/system\"\nqos = 0", 1)
	cfg, err := Parse("q.toml", []byte(doc))
	if err != nil || cfg.Telemetry[0].QoS != 0 {
		t.Fatalf("qos = 0 became %d (%v)", cfg.Telemetry[0].QoS, err)
	}
}
