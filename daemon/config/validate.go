package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"thingd/daemon/limits"
)

// AWS IoT refuses keepalives outside this range (its CONNACK closes the connection).
const (
	awsMinKeepalive = 30 * time.Second
	awsMaxKeepalive = 1200 * time.Second
)

type checker struct {
	path  string
	pos   positions
	probs []Problem
}

func (c *checker) bad(key, format string, a ...any) {
	c.probs = append(c.probs, Problem{File: c.path, Line: c.pos.line(key), Key: key, Msg: fmt.Sprintf(format, a...)})
}

// Validate checks a decoded config; Parse calls it with the line positions of the file.
func (cfg *Config) Validate() error {
	if probs := cfg.validate(nil); len(probs) > 0 {
		return &ValidationError{Problems: probs}
	}
	return nil
}

func (cfg *Config) validate(pos positions) []Problem {
	c := &checker{path: cfg.Path, pos: pos}
	if cfg.Version != 1 {
		if _, ok := pos["version"]; !ok && pos != nil {
			c.bad("version", "missing; add `version = 1` at the top of the file")
		} else {
			c.bad("version", "is %d; this thingd reads version 1", cfg.Version)
		}
	}
	cfg.validateProvisioning(c) // first: a provisioned identity names the thing
	cfg.validateMQTT(c)
	cfg.validateClock(c)
	if cfg.Queue.Dir == "" {
		c.bad("queue.dir", "is empty; set a directory such as /var/lib/thingd/queue")
	}
	if cfg.Queue.MaxBytes < 1<<20 {
		c.bad("queue.max_bytes", "is %d bytes; use at least \"1MiB\"", cfg.Queue.MaxBytes)
	}
	if cfg.Local.Socket == "" {
		c.bad("local.socket", "is empty; set a path such as /run/thingd/thingd.sock")
	}
	thing := cfg.Thing()
	for i := range cfg.Telemetry {
		t := &cfg.Telemetry[i]
		key := fmt.Sprintf("telemetry[%d]", i)
		t.Topic = ExpandTopic(t.Topic, thing)
		if err := limits.CheckPublishTopic(t.Topic, thing); err != nil {
			c.bad(key+".topic", "%v", err)
		}
		if t.Interval.D() < time.Second {
			c.bad(key+".interval", "is %s; use at least \"1s\"", t.Interval.D())
		}
		if err := limits.CheckQoS(t.QoS); err != nil {
			c.bad(key+".qos", "%v", err)
		}
	}
	for i := range cfg.Subscribe {
		s := &cfg.Subscribe[i]
		key := fmt.Sprintf("subscribe[%d]", i)
		s.Topic = ExpandTopic(s.Topic, thing)
		if err := limits.CheckFilter(s.Topic, thing); err != nil {
			c.bad(key+".topic", "%v", err)
		}
		if err := limits.CheckQoS(s.QoS); err != nil {
			c.bad(key+".qos", "%v", err)
		}
		switch {
		case len(s.Exec) == 0 && s.File == "":
			c.bad(key, "needs exec = [\"/path/to/program\", ...] or file = \"/path\"")
		case len(s.Exec) > 0 && s.File != "":
			c.bad(key, "has both exec and file; choose one")
		case len(s.Exec) > 0 && !strings.HasPrefix(s.Exec[0], "/"):
			c.bad(key+".exec", "program %q must be an absolute path (no shell, no $PATH lookup)", s.Exec[0])
		}
		if s.Timeout.D() <= 0 {
			c.bad(key+".timeout", "must be positive, such as \"30s\"")
		}
		if s.Concurrency < 1 || s.Concurrency > MaxSubscribeConcurrency {
			c.bad(key+".concurrency", "is %d; use 1 (one run at a time, in arrival order) up to %d (runs overlap)",
				s.Concurrency, MaxSubscribeConcurrency)
		}
	}
	cfg.validateJobs(c)
	cfg.validateShadow(c)
	switch cfg.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		c.bad("log.level", "is %q; use debug, info, warn or error", cfg.Log.Level)
	}
	return c.probs
}

func (cfg *Config) validateMQTT(c *checker) {
	m := &cfg.MQTT
	switch {
	case m.Endpoint == "":
		c.bad("mqtt.endpoint", "missing; copy the device data endpoint from the AWS IoT console (Settings), like \"a1b2c3d4e5-ats.iot.ap-northeast-1.amazonaws.com\"")
	case strings.Contains(m.Endpoint, "://") || strings.ContainsAny(m.Endpoint, "/: "):
		c.bad("mqtt.endpoint", "%q must be a host name only: no scheme, port or path (the port goes in mqtt.port)", m.Endpoint)
	}
	if m.Port < 1 || m.Port > 65535 {
		c.bad("mqtt.port", "%d is not a TCP port; AWS IoT listens on 8883, or 443 with ALPN", m.Port)
	}
	if err := limits.CheckClientID(m.ClientID); err != nil {
		c.bad("mqtt.client_id", "%v", err)
	}
	if m.ThingName != "" {
		if err := limits.CheckClientID(m.ThingName); err != nil || strings.ContainsAny(m.ThingName, "/+#") {
			c.bad("mqtt.thing_name", "%q is not a valid thing name (1..128 of a-z A-Z 0-9 : _ -)", m.ThingName)
		}
	}
	if m.CertFile == "" {
		c.bad("mqtt.cert_file", "is empty; point it at the device certificate (PEM)")
	}
	if m.KeyFile == "" {
		c.bad("mqtt.key_file", "is empty; point it at the device private key (PEM)")
	}
	ka := m.Keepalive.D()
	switch {
	case IsAWSEndpoint(m.Endpoint) && (ka < awsMinKeepalive || ka > awsMaxKeepalive):
		c.bad("mqtt.keepalive", "is %s; AWS IoT accepts 30s to 1200s", ka)
	case ka < time.Second || ka > 65535*time.Second:
		c.bad("mqtt.keepalive", "is %s; MQTT allows 1s to 65535s", ka)
	}
	if m.Proxy != "" {
		u, err := url.Parse(m.Proxy)
		if err != nil || u.Scheme != "http" || u.Hostname() == "" || u.Port() == "" {
			c.bad("mqtt.proxy", "%q must look like \"http://host:port\" (an HTTP CONNECT proxy)", m.Proxy)
		}
	}
	if m.MaxPublishRate < 0 {
		c.bad("mqtt.max_publish_rate", "is %d; use 0 (unlimited) or a positive rate", m.MaxPublishRate)
	}
}

func (cfg *Config) validateClock(c *checker) {
	for i, s := range cfg.Clock.Servers {
		key := fmt.Sprintf("clock.servers[%d]", i)
		if _, err := SplitServer(s); err != nil {
			c.bad(key, "%v", err)
		}
	}
	switch cfg.Clock.Step {
	case "auto", "never":
	default:
		c.bad("clock.step", "is %q; use \"auto\" (set the system clock when permitted) or \"never\"", cfg.Clock.Step)
	}
	if cfg.Clock.StateFile == "" {
		c.bad("clock.state_file", "is empty; set a path such as /var/lib/thingd/clock")
	}
}

// Server is an NTP server address from clock.servers.
type Server struct {
	Host string
	Port int // 123 unless given
}

// SplitServer parses "host" or "host:port" (IPv6 as "[::1]:123").
func SplitServer(s string) (Server, error) {
	if s == "" {
		return Server{}, fmt.Errorf("server is empty")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if strings.Count(s, ":") > 1 || !strings.Contains(s, ":") {
			return Server{Host: strings.Trim(s, "[]"), Port: 123}, nil
		}
		return Server{}, fmt.Errorf("%q is not \"host\" or \"host:port\"", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || host == "" {
		return Server{}, fmt.Errorf("%q is not \"host\" or \"host:port\"", s)
	}
	return Server{Host: host, Port: n}, nil
}

// IsAWSEndpoint tells whether the endpoint is an AWS IoT one, whose limits then apply.
func IsAWSEndpoint(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	return strings.HasSuffix(h, ".amazonaws.com") || strings.HasSuffix(h, ".amazonaws.com.cn")
}

// ExpandTopic replaces {thing} with the thing name.
func ExpandTopic(topic, thing string) string {
	return strings.ReplaceAll(topic, "{thing}", thing)
}
