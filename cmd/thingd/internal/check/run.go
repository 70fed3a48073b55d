package check

import (
	"context"
	"net"
	"strconv"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"thingd/daemon/config"
	thingtls "thingd/tls"
)

// Run walks every step in order, each building on what the earlier ones found, and
// returns one Result per step (one per NTP server). A step whose prerequisite failed is
// a skip that says why. Run never touches the system clock.
func Run(ctx context.Context, cfg *config.Config, o Options) []Result {
	r := &runner{cfg: cfg, o: o.withDefaults(),
		addr: net.JoinHostPort(cfg.MQTT.Endpoint, strconv.Itoa(cfg.MQTT.Port))}
	defer r.disconnect()
	r.add(r.configStep())
	r.loadFiles()
	r.add(r.certStep(), r.keyStep(), r.trustStep())
	r.add(r.ntpSteps(ctx)...)
	r.add(r.clockStep())
	r.add(r.dnsStep(ctx))
	r.add(r.tcpStep(ctx))
	r.add(r.tlsStep(ctx))
	r.add(r.mqttStep(ctx))
	r.add(r.roundTripStep(ctx))
	return r.results
}

// runner carries what each step found to the steps after it.
type runner struct {
	cfg     *config.Config
	o       Options
	addr    string // endpoint:port
	results []Result

	files  files
	cert   *thingtls.CertInfo // the device certificate, once it parsed
	ntpOK  bool               // at least one NTP server answered
	offset time.Duration      // NTP time minus system time (median of the answers)
	dnsOK  bool
	tcpOK  bool
	tls    *thingtls.Client // the TLS setup that verified, for the MQTT steps
	synced bool             // tls checks certificates against NTP time
	client mqtt.Client      // connected by the MQTT step
	noMQTT string           // why the MQTT step did not connect
}

func (r *runner) add(rs ...Result) { r.results = append(r.results, rs...) }

// ntpNow is the system time corrected by the NTP offset: what thingd's trusted clock says.
func (r *runner) ntpNow() time.Time { return r.o.Now().Add(r.offset) }

func (r *runner) disconnect() {
	if r.client != nil {
		r.client.Disconnect(250)
		r.client = nil
	}
}
