package main

import (
	"fmt"
	"time"

	"thingd/internal/testbed"
)

// brokerOptions shape a mosquitto the lab runs: the main broker (mutual TLS, the stand-in
// for AWS IoT Core) or the local bridging one that thingd is compared with.
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

// benchLogTypes leave out mosquitto's per-message logging: it would dominate the figures.
var benchLogTypes = []string{"error", "warning", "notice", "information"}

// startBroker starts a testbed mosquitto in the lab's directory (on the real disk, so
// /proc/<pid>/io sees its persistence writes). The main broker lets its subscribers have
// many messages in flight and queued, so a subscriber never limits or drops what is
// measured; the bridge gets the same window as thingd (100 QoS 1 publishes in flight).
func (l *lab) startBroker(o brokerOptions) (*testbed.Mosquitto, error) {
	mo := testbed.MosquittoOptions{
		Name: "mosquitto " + o.name, Dir: l.subdir(o.name), PKI: l.pki, Persistence: o.persistence,
		LogTypes: benchLogTypes, StopGrace: 30 * time.Second, // SIGTERM saves the persistence file
	}
	if o.bridgeTo == "" {
		mo.Extra = fmt.Sprintf("max_queued_messages 0\nmax_inflight_messages %d", o.subInflight)
	} else {
		mo.Plain = true
		mo.Extra = fmt.Sprintf("max_queued_messages 0\nmax_inflight_messages 100\n"+
			"connection main\naddress %s\nbridge_protocol_version mqttv311\n"+
			"cleansession false\nremote_clientid bench-bridge\nlocal_clientid bench-bridge-local\n"+
			"try_private false\nnotifications false\nrestart_timeout 1\nkeepalive_interval 10\n"+
			"topic %s out 1\nbridge_cafile %s\nbridge_certfile %s\nbridge_keyfile %s",
			o.bridgeTo, o.bridgeTopic, l.pki.CAFile, l.bridgeCert, l.bridgeKey)
	}
	m, err := testbed.LaunchMosquitto(mo)
	if err != nil {
		return nil, err
	}
	l.onClose(func() { l.stopBroker(m) })
	return m, nil
}

// stopBroker stops m; a broker that had to be killed is worth a line in the progress log.
func (l *lab) stopBroker(m *testbed.Mosquitto) {
	if err := m.StopErr(); err != nil {
		l.logf("%v", err)
	}
}

// restartBroker takes m away for down and brings it back on the same port.
func (l *lab) restartBroker(m *testbed.Mosquitto, down time.Duration) error {
	l.stopBroker(m)
	time.Sleep(down)
	return m.StartErr()
}
