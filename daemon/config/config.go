// Package config loads thingd's TOML configuration: defaults, a strict decode whose every
// error names the file, the line and the key, then Validate().
package config

import (
	"thingd/daemon/handler"
	"time"
)

// DefaultPath is where the daemon looks when neither --config nor THINGD_CONFIG is given.
const DefaultPath = "/etc/thingd/thingd.toml"

// EnvPath overrides DefaultPath; --config overrides both.
const EnvPath = "THINGD_CONFIG"

// Config is the whole file. Field names map 1:1 to the keys in DESIGN.md §4.
type Config struct {
	Version   int         `toml:"version"`
	MQTT      MQTT        `toml:"mqtt"`
	Clock     Clock       `toml:"clock"`
	Queue     Queue       `toml:"queue"`
	Local     Local       `toml:"local"`
	Telemetry []Telemetry `toml:"telemetry"`
	Subscribe []Subscribe `toml:"subscribe"`
	Log       Log         `toml:"log"`
	Jobs      Jobs        `toml:"jobs"`
	Shadow    Shadow      `toml:"shadow"`

	Provisioning Provisioning `toml:"provisioning"`

	// Path is the file this config was read from; relative file names in it are
	// resolved against its directory so that `thingd import` can write certs/ beside it.
	Path string `toml:"-"`
}

// MQTT is the connection to AWS IoT Core.
type MQTT struct {
	Endpoint       string   `toml:"endpoint"`
	Port           int      `toml:"port"`
	ClientID       string   `toml:"client_id"`
	ThingName      string   `toml:"thing_name"`
	CAFile         string   `toml:"ca_file"`
	CertFile       string   `toml:"cert_file"`
	KeyFile        string   `toml:"key_file"`
	Keepalive      Duration `toml:"keepalive"`
	Proxy          string   `toml:"proxy"`
	MaxPublishRate int      `toml:"max_publish_rate"`
	CleanSession   bool     `toml:"clean_session"`
}

// Clock is trusted time on a board without an RTC.
type Clock struct {
	Servers   []string `toml:"servers"`
	Step      string   `toml:"step"`
	StateFile string   `toml:"state_file"`
}

// Queue is the durable on-disk telemetry queue.
type Queue struct {
	Dir      string `toml:"dir"`
	MaxBytes Size   `toml:"max_bytes"`
}

// Local is the Unix socket producers on the device talk to.
type Local struct {
	Socket string `toml:"socket"`
}

// Telemetry is one built-in collector schedule.
type Telemetry struct {
	Topic    string   `toml:"topic"`
	Interval Duration `toml:"interval"`
	QoS      int      `toml:"qos"`
}

// Subscribe routes inbound messages on Topic to a program or a file.
type Subscribe struct {
	Topic   string   `toml:"topic"`
	QoS     int      `toml:"qos"`
	Exec    []string `toml:"exec"`
	File    string   `toml:"file"`
	Timeout Duration `toml:"timeout"`
	// Concurrency is how many runs of an exec handler may overlap; 1 runs the commands
	// strictly one after another in arrival order.
	Concurrency int `toml:"concurrency"`
}

// Log sets the minimum level written to stderr/journald.
type Log struct {
	Level string `toml:"level"`
}

// Defaults returns every optional value; Load decodes the file on top of it.
func Defaults() Config {
	return Config{
		MQTT: MQTT{
			Port:           8883,
			CertFile:       "/etc/thingd/certs/device.cert.pem",
			KeyFile:        "/etc/thingd/certs/device.private.key",
			Keepalive:      Duration(60 * time.Second),
			MaxPublishRate: 100,
		},
		Clock: Clock{
			Servers:   []string{"time.aws.com", "pool.ntp.org"},
			Step:      "auto",
			StateFile: "/var/lib/thingd/clock",
		},
		Queue: Queue{
			Dir:      "/var/lib/thingd/queue",
			MaxBytes: 64 << 20,
		},
		Local:  Local{Socket: "/run/thingd/thingd.sock"},
		Log:    Log{Level: "info"},
		Jobs:   jobsDefaults(),
		Shadow: shadowDefaults(),

		Provisioning: provisioningDefaults(),
	}
}

// telemetryDefaults and subscribeDefaults fill array-of-table entries, which TOML
// decoding creates from zero values; qosSet tells an explicit "qos = 0" from an absent key.
func telemetryDefaults(t *Telemetry, qosSet bool) {
	if t.Interval == 0 {
		t.Interval = Duration(60 * time.Second)
	}
	if !qosSet {
		t.QoS = 1
	}
}

func subscribeDefaults(s *Subscribe, qosSet bool) {
	if s.Timeout == 0 {
		s.Timeout = Duration(handler.DefaultTimeout)
	}
	if !qosSet {
		s.QoS = 1
	}
	if s.Concurrency == 0 {
		s.Concurrency = 1
	}
}

// MaxSubscribeConcurrency bounds [[subscribe]] concurrency: each run is a process.
const MaxSubscribeConcurrency = 16

// Thing is the thing name, which defaults to the client ID.
func (c *Config) Thing() string {
	if c.MQTT.ThingName != "" {
		return c.MQTT.ThingName
	}
	return c.MQTT.ClientID
}
