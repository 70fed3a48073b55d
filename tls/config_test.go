package tls

import (
	stdtls "crypto/tls"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// The client always verifies the broker by name, at TLS 1.2 or later, against the
// injected clock; only port 443 asks for AWS IoT's ALPN protocol.
func TestConfig(t *testing.T) {
	for _, port := range []int{8883, 443, 8443} {
		t.Run(strconv.Itoa(port), func(t *testing.T) {
			d := newDevice(t)
			o := d.options()
			o.Host, o.Port = "a1b2c3d4e5-ats.iot.ap-northeast-1.amazonaws.com", port
			c, err := Load(o)
			if err != nil {
				t.Fatal(err)
			}
			cfg := c.Config
			if cfg.MinVersion != stdtls.VersionTLS12 {
				t.Errorf("MinVersion = %x, want TLS 1.2", cfg.MinVersion)
			}
			if cfg.InsecureSkipVerify || cfg.ServerName != o.Host {
				t.Errorf("InsecureSkipVerify = %v, ServerName = %q", cfg.InsecureSkipVerify, cfg.ServerName)
			}
			if cfg.Time == nil || !cfg.Time().Equal(t0) {
				t.Error("Config.Time is not the injected clock")
			}
			var want []string
			if port == 443 {
				want = []string{"x-amzn-mqtt-ca"}
			}
			if !slices.Equal(cfg.NextProtos, want) {
				t.Errorf("NextProtos = %q, want %q", cfg.NextProtos, want)
			}
		})
	}
}

// Without an injected clock the configuration uses the wall clock.
func TestConfigDefaultClock(t *testing.T) {
	d := newDevice(t)
	o := d.options()
	o.Now = nil
	c, err := Load(o)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Config.Time(); time.Since(got) > time.Minute || time.Since(got) < -time.Minute {
		t.Errorf("Config.Time() = %v, want about now", got)
	}
}

func TestLoadNeedsHost(t *testing.T) {
	o := newDevice(t).options()
	o.Host = ""
	if _, err := Load(o); err == nil || !strings.Contains(err.Error(), "mqtt.endpoint") {
		t.Fatalf("Load = %v, want an error naming mqtt.endpoint", err)
	}
}

// A key others can read is loud (returned and logged at Warn) but not fatal.
func TestKeyModeWarning(t *testing.T) {
	tests := []struct {
		mode os.FileMode
		want string // "" = no warning
	}{
		{0o600, ""},
		{0o400, ""},
		{0o620, ""}, // writable by the group is not readable by it
		{0o640, "readable by its group (mode 0640)"},
		{0o604, "readable by others (mode 0604)"},
		{0o644, "readable by group and others (mode 0644)"},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			d := newDevice(t)
			if err := os.Chmod(d.keyFile, tt.mode); err != nil {
				t.Fatal(err)
			}
			core, logs := observer.New(zapcore.WarnLevel)
			o := d.options()
			o.Logger = zap.New(core)
			c, err := Load(o)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				if len(c.Warnings) != 0 || logs.Len() != 0 {
					t.Fatalf("unexpected warnings %q, %d logged", c.Warnings, logs.Len())
				}
				return
			}
			if len(c.Warnings) != 1 {
				t.Fatalf("Warnings = %q, want one", c.Warnings)
			}
			w := c.Warnings[0]
			if !strings.Contains(w, d.keyFile) || !strings.Contains(w, tt.want) || !strings.HasSuffix(w, "chmod 600 "+d.keyFile) {
				t.Errorf("warning %q lacks the path, %q or the fix", w, tt.want)
			}
			if got := logs.FilterMessage(w).Len(); got != 1 {
				t.Errorf("warning logged %d times at Warn, want once", got)
			}
		})
	}
}

// Load reports a missing key and a broken CA together, so one run shows all fixes.
func TestLoadJoinsTrustAndKeyErrors(t *testing.T) {
	d := newDevice(t)
	o := d.options()
	o.KeyFile = d.keyFile + ".absent"
	o.CAFile = writeFile(t, d.dir, "ca-broken.pem", []byte("nope"), 0o644)
	_, err := Load(o)
	if !errors.Is(err, ErrBadPEM) || !strings.Contains(err.Error(), o.KeyFile+": no such file") {
		t.Fatalf("Load = %v", err)
	}
}
