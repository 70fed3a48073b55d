package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// demoThing is the client ID and thing name of the demo device, and its certificate's CN.
const demoThing = "demo-pi"

// Provisioning by claim: the fleet's shared claim certificate (CN demoClaim), the template the
// broker knows, and the device's serial number the template takes.
const (
	demoClaim    = "demo-claim"
	demoTemplate = "demo-fleet"
	demoSerial   = "demo-0001"
)

// demoConfig is everything thingd.toml points at.
type demoConfig struct {
	Dir                 string // holds the queue, the socket, the clock state and the handler's file
	BrokerPort          int
	CAFile              string
	ClaimCert, ClaimKey string // the fleet's claim certificate: only good for provisioning
	NTPAddr             string
}

func (c demoConfig) path() string        { return filepath.Join(c.Dir, "thingd.toml") }
func (c demoConfig) socket() string      { return filepath.Join(c.Dir, "thingd.sock") }
func (c demoConfig) commandFile() string { return filepath.Join(c.Dir, "last-command.json") }
func (c demoConfig) identityDir() string { return filepath.Join(c.Dir, "identity") }

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
cert_file = %q   # written by provisioning by claim, below
key_file  = %q
keepalive = "30s"

[provisioning]
template   = %q
claim_cert = %q
claim_key  = %q
dir        = %q
parameters = { SerialNumber = %q }

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

[shadow]
enabled  = true    # report to the classic shadow, take settings from its desired state
interval = "10s"
`, c.BrokerPort, demoThing, c.CAFile,
		filepath.Join(c.identityDir(), "device.cert.pem"), filepath.Join(c.identityDir(), "device.private.key"),
		demoTemplate, c.ClaimCert, c.ClaimKey, c.identityDir(), demoSerial, c.NTPAddr,
		filepath.Join(c.Dir, "clock"), filepath.Join(c.Dir, "queue"), c.socket(), c.commandFile(),
		filepath.Join(c.Dir, "jobs.json"), demoJobOutput)
	if err := os.WriteFile(c.path(), []byte(doc), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", c.path(), err)
	}
	return nil
}
