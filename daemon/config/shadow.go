package config

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Shadow is [shadow]: the Device Shadow (docs/shadow.md).
type Shadow struct {
	// Enabled turns the shadow on: the device reports its state and takes settings.
	Enabled bool `toml:"enabled"`
	// Name picks a named shadow; "" is the thing's classic shadow.
	Name string `toml:"name"`
	// Interval is the least time between two updates of the reported status (queue,
	// counters, clock); a changed setting is reported within a second.
	Interval Duration `toml:"interval"`
	// Lock lists setting keys the shadow may not change (the file's value holds).
	Lock []string `toml:"lock"`
	// Local lists the named shadows local programs may read with `thingd shadow get`: thingd
	// subscribes to exactly their get answers, so a policy without wildcards works.
	Local []string `toml:"local"`
	// StateFile keeps the last accepted desired settings; "" is shadow.json beside
	// clock.state_file.
	StateFile string `toml:"state_file"`
}

// Setting keys the shadow's desired state may set, named like the file's keys.
// telemetry.interval sets the interval of every [[telemetry]] entry.
const (
	SettingLogLevel          = "log.level"
	SettingMaxPublishRate    = "mqtt.max_publish_rate"
	SettingTelemetryInterval = "telemetry.interval"
)

// Settings is every key the shadow may set, sorted.
var Settings = []string{SettingLogLevel, SettingMaxPublishRate, SettingTelemetryInterval}

// DefaultShadowInterval is [shadow] interval's default.
const DefaultShadowInterval = 60 * time.Second

func shadowDefaults() Shadow {
	return Shadow{Interval: Duration(DefaultShadowInterval), Lock: []string{}, Local: []string{}}
}

func (cfg *Config) validateShadow(c *checker) {
	s := &cfg.Shadow
	if s.Name != "" && !validShadowName(s.Name) {
		c.bad("shadow.name", "%q is not a shadow name: use 1 to 64 of a-z A-Z 0-9 : _ - (not starting with $), or \"\" for the classic shadow", s.Name)
	}
	if s.Interval.D() < time.Second {
		c.bad("shadow.interval", "is %s; use at least \"1s\"", s.Interval.D())
	}
	for i, n := range s.Local {
		if !validShadowName(n) {
			c.bad(fmt.Sprintf("shadow.local[%d]", i), "%q is not a shadow name: use 1 to 64 of a-z A-Z 0-9 : _ - (not starting with $)", n)
		}
	}
	for i, k := range s.Lock {
		if !slices.Contains(Settings, k) {
			c.bad(fmt.Sprintf("shadow.lock[%d]", i), "%q is not a setting the shadow can change; use one of %s", k, strings.Join(Settings, ", "))
		}
	}
}

// validShadowName is AWS's rule for shadow names.
func validShadowName(n string) bool {
	if len(n) > 64 || strings.HasPrefix(n, "$") {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(":_-", r)) {
			return false
		}
	}
	return n != ""
}

// ShadowStateFile is where the accepted desired settings are kept.
func (cfg *Config) ShadowStateFile() string {
	if cfg.Shadow.StateFile != "" {
		return cfg.Shadow.StateFile
	}
	return filepath.Join(filepath.Dir(cfg.Clock.StateFile), "shadow.json")
}

// clone copies the config deeply enough that a setting changes nothing shared.
func (cfg *Config) clone() *Config {
	c := *cfg
	c.Clock.Servers = slices.Clone(cfg.Clock.Servers)
	c.Telemetry = slices.Clone(cfg.Telemetry)
	c.Subscribe = slices.Clone(cfg.Subscribe)
	c.Shadow.Lock = slices.Clone(cfg.Shadow.Lock)
	c.Shadow.Local = slices.Clone(cfg.Shadow.Local)
	return &c
}

// WithSetting returns a copy of cfg with the shadow setting key set to the JSON value v
// (as encoding/json decodes it), checked by the same rules as the file. The error is the
// reason to report back; cfg itself never changes.
func (cfg *Config) WithSetting(key string, v any) (*Config, error) {
	if slices.Contains(cfg.Shadow.Lock, key) {
		return nil, fmt.Errorf("locked by shadow.lock in %s; the file's value holds", cfg.Path)
	}
	c := cfg.clone()
	var problemKey string
	switch key {
	case SettingLogLevel:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("found %s, expected a string: debug, info, warn or error", jsonKind(v))
		}
		c.Log.Level, problemKey = s, "log.level"
	case SettingMaxPublishRate:
		f, ok := v.(float64)
		if !ok || f != math.Trunc(f) || math.Abs(f) > 1e9 {
			return nil, fmt.Errorf("found %s, expected a whole number of publishes per second (0 = unlimited)", jsonKind(v))
		}
		c.MQTT.MaxPublishRate, problemKey = int(f), "mqtt.max_publish_rate"
	case SettingTelemetryInterval:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("found %s, expected a quoted duration like \"60s\"", jsonKind(v))
		}
		var d Duration
		if err := d.UnmarshalText([]byte(s)); err != nil {
			return nil, err
		}
		for i := range c.Telemetry {
			c.Telemetry[i].Interval = d
		}
		problemKey = "telemetry["
	default:
		return nil, fmt.Errorf("not a setting the shadow can change; use one of %s", strings.Join(Settings, ", "))
	}
	for _, p := range c.validate(nil) {
		if strings.HasPrefix(p.Key, problemKey) {
			return nil, fmt.Errorf("%s", p.Msg)
		}
	}
	return c, nil
}

// SettingValue is the value of setting key in cfg as the shadow reports it (the form
// WithSetting takes); ok is false when it has none (telemetry.interval with no entries,
// or entries that differ).
func (cfg *Config) SettingValue(key string) (v any, ok bool) {
	switch key {
	case SettingLogLevel:
		return cfg.Log.Level, true
	case SettingMaxPublishRate:
		return cfg.MQTT.MaxPublishRate, true
	case SettingTelemetryInterval:
		if len(cfg.Telemetry) == 0 {
			return nil, false
		}
		d := cfg.Telemetry[0].Interval
		for _, t := range cfg.Telemetry[1:] {
			if t.Interval != d {
				return nil, false
			}
		}
		return d.D().String(), true
	}
	return nil, false
}

func jsonKind(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("the string %q", x)
	case float64, bool:
		b, _ := json.Marshal(x)
		return fmt.Sprintf("%T %s", x, b)
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T", v)
}
