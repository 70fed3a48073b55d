package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// demoThing is the client ID and thing name of the demo device, and its certificate's CN.
const demoThing = "demo-pi"

// demoConfig is everything thingd.toml points at.
type demoConfig struct {
	Dir                       string // holds the queue, the socket, the clock state and the handler's file
	BrokerPort                int
	CAFile, CertFile, KeyFile string
	NTPAddr                   string
}

func (c demoConfig) path() string        { return filepath.Join(c.Dir, "thingd.toml") }
func (c demoConfig) socket() string      { return filepath.Join(c.Dir, "thingd.sock") }
func (c demoConfig) commandFile() string { return filepath.Join(c.Dir, "last-command.json") }

// write puts thingd.toml into Dir: the real daemon's config, pointed at the loopback broker and
// time source, never allowed to step this machine's clock.
func (c demoConfig) write() error {
	doc := fmt.Sprintf(`# thingd.toml written by thingd-demo: a loopback broker and time source.
version = 1

[mqtt]
endpoint  = "localhost"
port      = %d
client_id = %q
ca_file   = %q
cert_file = %q
key_file  = %q
keepalive = "30s"

[clock]
servers    = [%q]
step       = "never"   # the demo never touches this machine's clock
state_file = %q

[queue]
dir = %q

[local]
socket = %q

[[telemetry]]
topic    = "dt/{thing}/system"
interval = "5s"

[[subscribe]]
topic = "cmd/{thing}/#"
qos   = 1       # PUBACK only once the file is written
file  = %q

[jobs]
enabled    = true
state_file = %q

[[jobs.handler]]
operation = "say-hello"
exec      = ["/bin/echo", %q]   # argv, no shell
timeout   = "30s"

[log]
level = "info"
`, c.BrokerPort, demoThing, c.CAFile, c.CertFile, c.KeyFile, c.NTPAddr,
		filepath.Join(c.Dir, "clock"), filepath.Join(c.Dir, "queue"), c.socket(), c.commandFile(),
		filepath.Join(c.Dir, "jobs.json"), demoJobOutput)
	if err := os.WriteFile(c.path(), []byte(doc), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", c.path(), err)
	}
	return nil
}
