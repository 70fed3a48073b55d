package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// broker is a mosquitto the lab runs: the main broker (mutual TLS, the stand-in for AWS
// IoT Core) or the local bridging one that thingd is compared with.
type broker struct {
	name    string
	l       *lab
	port    int
	addr    string
	dir     string
	conf    string
	logFile string
	p       *proc
}

// brokerOptions shape a broker's mosquitto.conf.
type brokerOptions struct {
	name        string
	persistence bool
	// bridgeTo makes a plain-MQTT local broker that bridges bridgeTopic out to this
	// address at QoS 1, with the bench-bridge client certificate; "" makes the TLS main broker.
	bridgeTo    string
	bridgeTopic string
	// subInflight is the main broker's max_inflight_messages towards its subscribers.
	subInflight int
}

func (l *lab) startBroker(o brokerOptions) (*broker, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	b := &broker{name: o.name, l: l, port: port, addr: fmt.Sprintf("127.0.0.1:%d", port), dir: l.subdir(o.name)}
	b.conf = filepath.Join(b.dir, "mosquitto.conf")
	b.logFile = filepath.Join(b.dir, "mosquitto.log")
	if err := os.WriteFile(b.conf, []byte(b.config(o)), 0o644); err != nil {
		return nil, err
	}
	return b, b.start()
}

// config: `user root` keeps mosquitto from dropping to a user that could not read the
// lab's 0700 directories. Per-message logging is off: it would dominate the figures.
// The main broker lets its subscribers have many messages in flight and queued, so a
// subscriber never limits or drops what is measured.
func (b *broker) config(o brokerOptions) string {
	var s strings.Builder
	s.WriteString("user root\nlog_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\n")
	s.WriteString("log_timestamp_format %Y-%m-%dT%H:%M:%S\n")
	if o.persistence {
		fmt.Fprintf(&s, "persistence true\npersistence_location %s/\n", b.dir)
	} else {
		s.WriteString("persistence false\n")
	}
	s.WriteString("max_queued_messages 0\n")
	l := b.l
	if o.bridgeTo == "" {
		fmt.Fprintf(&s, "max_inflight_messages %d\n", o.subInflight)
		fmt.Fprintf(&s, "listener %d 127.0.0.1\n", b.port)
		fmt.Fprintf(&s, "cafile %s\ncertfile %s\nkeyfile %s\n", l.pki.CAFile, l.pki.ServerCertFile, l.pki.ServerKeyFile)
		s.WriteString("require_certificate true\nuse_identity_as_username true\nallow_anonymous false\n")
		return s.String()
	}
	// The bridge gets the same window as thingd (100 QoS 1 publishes in flight).
	s.WriteString("max_inflight_messages 100\n")
	fmt.Fprintf(&s, "listener %d 127.0.0.1\nallow_anonymous true\n", b.port)
	fmt.Fprintf(&s, "connection main\naddress %s\nbridge_protocol_version mqttv311\n", o.bridgeTo)
	s.WriteString("cleansession false\nremote_clientid bench-bridge\nlocal_clientid bench-bridge-local\n")
	s.WriteString("try_private false\nnotifications false\nrestart_timeout 1\nkeepalive_interval 10\n")
	fmt.Fprintf(&s, "topic %s out 1\n", o.bridgeTopic)
	fmt.Fprintf(&s, "bridge_cafile %s\nbridge_certfile %s\nbridge_keyfile %s\n", l.pki.CAFile, l.bridgeCert, l.bridgeKey)
	return s.String()
}

// start runs mosquitto and returns once its listener accepts.
func (b *broker) start() error {
	if b.p != nil && !b.p.exited() {
		return fmt.Errorf("mosquitto %s is already running", b.name)
	}
	p, err := b.l.ps.start("mosquitto "+b.name, b.logFile, nil, b.l.tools["mosquitto"], "-c", b.conf)
	if err != nil {
		return err
	}
	b.p = p
	if err := waitTCP(b.addr, p, 15*time.Second); err != nil {
		return fmt.Errorf("mosquitto %s (log %s): %w", b.name, b.logFile, err)
	}
	return nil
}

// stop ends the broker with SIGTERM (it saves its persistence file) and waits.
func (b *broker) stop() {
	if b.p != nil {
		b.p.stop(30 * time.Second)
	}
}

func (b *broker) restart(down time.Duration) error {
	b.stop()
	time.Sleep(down)
	return b.start()
}
