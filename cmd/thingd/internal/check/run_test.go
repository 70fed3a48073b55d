package check

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beevik/ntp"

	"thingd/daemon/config"
	"thingd/internal/testbed"
)

var allSteps = []string{"config", "cert_file", "key_file", "trust", "ntp", "clock", "dns", "tcp", "tls", "mqtt", "roundtrip"}

func stepsOf(results []Result) []string {
	out := make([]string, len(results))
	for i, r := range results {
		out[i] = r.Step
	}
	return out
}

// TestRunHealthy: against a working broker every step passes in order, the CONNECT uses
// the configured client ID and session flag, and the JSON carries the numbers scripts need.
func TestRunHealthy(t *testing.T) {
	s := newSetup(t, 0, brokerEcho)
	results := s.run(t)
	if got := stepsOf(results); !slices.Equal(got, allSteps) {
		t.Fatalf("steps %v, want %v", got, allSteps)
	}
	for _, r := range results {
		if r.Status != StatusPass {
			t.Errorf("%s: %s %s", r.Step, r.Status, r.Detail)
		}
	}
	if Failed(results) {
		t.Error("Failed() on a healthy run")
	}
	expect(t, results, "tls", StatusPass, "with the system time and with NTP time", "TLS 1.3")
	expect(t, results, "roundtrip", StatusPass, "thingd/check/pi/")
	if ids := s.broker.clients(); len(ids) == 0 || ids[0] != "pi-check" || s.broker.cleans[0] {
		t.Errorf("broker saw client IDs %v clean %v, want pi-check with a persistent session like the daemon", ids, s.broker.cleans)
	}
	objs := jsonObjects(t, results)
	if objs[4]["offset_ms"] != 0.0 || objs[4]["rtt_ms"] != 10.0 || objs[4]["server"] != "127.0.0.1" {
		t.Errorf("ntp JSON = %v", objs[4])
	}
	if objs[9]["connack"] != 0.0 || objs[9]["client_id"] != "pi-check" {
		t.Errorf("mqtt JSON = %v", objs[9])
	}
}

// TestFiles: each broken file fails its own step naming its path and the fix; a key
// readable by others is only a warning; the trust step names the store in use.
func TestFiles(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(t *testing.T, s *setup)
		step   string
		status Status
		want   []string
		tls    Status
	}{
		{"missing certificate", func(t *testing.T, s *setup) { s.cfg.MQTT.CertFile = "/nonexistent/device.pem" },
			"cert_file", StatusFail, []string{"/nonexistent/device.pem", "no such file"}, StatusSkip},
		{"missing key", func(t *testing.T, s *setup) { s.cfg.MQTT.KeyFile = "/nonexistent/device.key" },
			"key_file", StatusFail, []string{"/nonexistent/device.key", "no such file"}, StatusSkip},
		{"key of another certificate", func(t *testing.T, s *setup) { _, s.cfg.MQTT.KeyFile = s.pki.IssueDevice(t, "other") },
			"key_file", StatusFail, []string{"does not match the certificate"}, StatusSkip},
		{"certificate and key swapped", func(t *testing.T, s *setup) {
			s.cfg.MQTT.CertFile, s.cfg.MQTT.KeyFile = s.cfg.MQTT.KeyFile, s.cfg.MQTT.CertFile
		}, "cert_file", StatusFail, []string{"swapped"}, StatusSkip},
		{"key readable by others", func(t *testing.T, s *setup) {
			if err := os.Chmod(s.cfg.MQTT.KeyFile, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "key_file", StatusWarn, []string{"readable by", "chmod 600 " + "KEY"}, StatusPass},
		{"missing CA file", func(t *testing.T, s *setup) { s.cfg.MQTT.CAFile = "/nonexistent/AmazonRootCA1.pem" },
			"trust", StatusFail, []string{"/nonexistent/AmazonRootCA1.pem", "AmazonRootCA1.pem"}, StatusSkip},
		{"system trust store", func(t *testing.T, s *setup) {
			s.cfg.MQTT.CAFile = ""
			s.opts.SystemPool = func() (*x509.CertPool, error) { return s.pki.Pool(), nil }
		}, "trust", StatusPass, []string{"system trust store"}, StatusPass},
		{"no system trust store: built-in roots", func(t *testing.T, s *setup) {
			s.cfg.MQTT.CAFile = ""
			s.opts.SystemPool = func() (*x509.CertPool, error) { return nil, errors.New("no store") }
		}, "trust", StatusPass, []string{"built-in"}, StatusFail},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newSetup(t, 0, brokerEcho)
			c.edit(t, s)
			results := s.run(t)
			want := slices.Clone(c.want)
			for i := range want {
				want[i] = strings.ReplaceAll(want[i], "KEY", s.cfg.MQTT.KeyFile)
			}
			expect(t, results, c.step, c.status, want...)
			expect(t, results, "tls", c.tls)
			if Failed(results) != (c.status == StatusFail || c.tls == StatusFail) {
				t.Errorf("Failed() = %v", Failed(results))
			}
		})
	}
}

// TestBuiltinRootsRejectTestCA: with the built-in roots a private CA's broker is an
// unknown authority, and the fix says to set mqtt.ca_file.
func TestBuiltinRootsRejectTestCA(t *testing.T) {
	s := newSetup(t, 0, brokerEcho)
	s.cfg.MQTT.CAFile = ""
	s.opts.SystemPool = func() (*x509.CertPool, error) { return x509.NewCertPool(), nil }
	results := s.run(t)
	r := expect(t, results, "tls", StatusFail, "authority", "mqtt.ca_file")
	if r.Data["kind"] != "unknown authority" {
		t.Errorf("kind = %v", r.Data["kind"])
	}
	expect(t, results, "mqtt", StatusSkip)
}

const threeYears = 1095 * 24 * time.Hour

// TestClock covers the clock as thingd sees it: NTP answers or not, the system clock right
// or three years behind, the certificate valid, expired or ending soon.
func TestClock(t *testing.T) {
	t.Run("synced", func(t *testing.T) {
		s := newSetup(t, 0, brokerEcho)
		s.opts.QueryNTP = fakeNTP(time.Now, map[string]ntpAnswer{"127.0.0.1:123": {offset: 3 * time.Millisecond}})
		results := s.run(t)
		r := expect(t, results, "ntp", StatusPass, "offset +3ms", "round trip 10ms", "stratum 2")
		if r.Data["offset_ms"] != 3.0 {
			t.Errorf("offset_ms = %v", r.Data["offset_ms"])
		}
		expect(t, results, "clock", StatusPass, "valid until")
	})

	t.Run("one of two servers silent", func(t *testing.T) {
		s := newSetup(t, 0, brokerEcho)
		s.cfg.Clock.Servers = []string{"127.0.0.1", "ntp.invalid:4123"}
		results := s.run(t)
		if results[4].Status != StatusPass || results[5].Status != StatusWarn || results[5].Step != "ntp" ||
			!strings.Contains(results[5].Detail, "ntp.invalid:4123") {
			t.Errorf("ntp lines: %+v / %+v", results[4], results[5])
		}
		expect(t, results, "clock", StatusPass)
		if Failed(results) {
			t.Error("a silent NTP server among answering ones failed the check")
		}
	})

	t.Run("median of three", func(t *testing.T) {
		s := newSetup(t, 0, brokerEcho)
		s.cfg.Clock.Servers = []string{"a", "b", "c"}
		s.opts.QueryNTP = fakeNTP(time.Now, map[string]ntpAnswer{
			"a:123": {offset: 2 * time.Millisecond}, "b:123": {offset: 4 * time.Millisecond}, "c:123": {offset: time.Hour}})
		results := s.run(t)
		if c := find(t, results, "clock"); c.Data["offset_ms"] != 4.0 {
			t.Errorf("clock offset_ms = %v, want the median 4", c.Data["offset_ms"])
		}
	})

	t.Run("invalid answer", func(t *testing.T) {
		s := newSetup(t, 0, brokerEcho)
		s.opts.QueryNTP = fakeNTP(time.Now, map[string]ntpAnswer{"127.0.0.1:123": {mangle: func(r *ntp.Response) { r.Stratum = 0 }}})
		results := s.run(t)
		expect(t, results, "ntp", StatusWarn, "invalid answer", "kiss of death")
		expect(t, results, "clock", StatusWarn, "no NTP server answered")
	})

	t.Run("no NTP, clock three years behind", func(t *testing.T) {
		s := newSetup(t, threeYears, brokerEcho)
		s.opts.QueryNTP = fakeNTP(time.Now, nil)
		results := s.run(t)
		start := s.pki.NotBefore.UTC().Format("2006-01-02")
		expect(t, results, "ntp", StatusWarn, "connection refused", "clock.servers")
		r := expect(t, results, "clock", StatusFail, "not yet valid", start, "1095 days behind", "clock.servers")
		if skew, _ := r.Data["skew_s"].(float64); skew < threeYears.Seconds()-7200 {
			t.Errorf("skew_s = %v, want about three years", r.Data["skew_s"])
		}
		expect(t, results, "tls", StatusFail, "server certificate not yet valid", start, "AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE", "certificate is not yet valid")
		expect(t, results, "mqtt", StatusSkip)
		expect(t, results, "roundtrip", StatusSkip)
	})

	t.Run("NTP three years ahead of the system clock", func(t *testing.T) {
		s := newSetup(t, threeYears, brokerEcho)
		results := s.run(t)
		expect(t, results, "ntp", StatusPass, "+1095 days")
		expect(t, results, "clock", StatusWarn, "the system clock is 1095 days behind", "valid at NTP time but not at the system time", `clock.step = "auto"`)
		r := expect(t, results, "tls", StatusPass, "with NTP time, which thingd uses", "system clock", "1095 days behind", "AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE")
		if v := r.Data["verified_with"]; !slices.Equal(v.([]string), []string{"ntp"}) {
			t.Errorf("verified_with = %v", v)
		}
		expect(t, results, "mqtt", StatusPass)
		expect(t, results, "roundtrip", StatusPass)
		if Failed(results) {
			t.Error("thingd would work on NTP time, but check failed")
		}
	})

	t.Run("step auto changes the advice", func(t *testing.T) {
		s := newSetup(t, threeYears, brokerEcho)
		s.cfg.Clock.Step = "auto"
		expect(t, s.run(t), "clock", StatusWarn, "CAP_SYS_TIME")
	})

	t.Run("certificate expired by NTP time", func(t *testing.T) {
		s := newSetup(t, -60*24*time.Hour, brokerEcho)
		s.opts.QueryNTP = fakeNTP(time.Now, map[string]ntpAnswer{"127.0.0.1:123": {}})
		results := s.run(t)
		expect(t, results, "clock", StatusFail, "expired", "really expired", "create a new certificate")
	})

	t.Run("certificate ends soon", func(t *testing.T) {
		s := newSetup(t, 0, brokerEcho)
		later := func() time.Time { return time.Now().Add(20 * 24 * time.Hour) }
		s.opts.Now = later
		s.opts.QueryNTP = fakeNTP(later, map[string]ntpAnswer{"127.0.0.1:123": {}})
		results := s.run(t)
		expect(t, results, "clock", StatusWarn, "expires in", "create a new certificate")
	})
}

// TestNetwork: DNS and TCP failures name the host and port and skip what depends on them.
func TestNetwork(t *testing.T) {
	t.Run("name does not resolve", func(t *testing.T) {
		s := newSetup(t, 0, brokerEcho)
		s.opts.LookupHost = func(_ context.Context, host string) ([]string, error) {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		results := s.run(t)
		expect(t, results, "dns", StatusFail, "localhost", "mqtt.endpoint", "AWS IoT console")
		for _, step := range []string{"tcp", "tls", "mqtt", "roundtrip"} {
			expect(t, results, step, StatusSkip)
		}
	})

	t.Run("IP address", func(t *testing.T) {
		s := newSetup(t, 0, brokerEcho)
		s.cfg.MQTT.Endpoint = "127.0.0.1"
		s.opts.LookupHost = nil // must not be needed
		results := s.run(t)
		expect(t, results, "dns", StatusPass, "IP address")
		expect(t, results, "roundtrip", StatusPass)
	})

	t.Run("nothing listens", func(t *testing.T) {
		s := newSetup(t, 0, brokerEcho)
		s.cfg.MQTT.Port = testbed.FreeTCPPort(t)
		results := s.run(t)
		r := expect(t, results, "tcp", StatusFail, "localhost:", "connection refused", "mqtt.port")
		if r.Data["addr"] != net.JoinHostPort("localhost", strconv.Itoa(s.cfg.MQTT.Port)) {
			t.Errorf("addr = %v", r.Data["addr"])
		}
		expect(t, results, "tls", StatusSkip, "no TCP connection")
	})

	t.Run("wrong endpoint name", func(t *testing.T) {
		s := newSetup(t, 0, brokerEcho)
		s.cfg.MQTT.Endpoint = "broker.example"
		var d net.Dialer
		s.opts.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, s.broker.addr)
		}
		results := s.run(t)
		expect(t, results, "tls", StatusFail, "not broker.example", "mqtt.endpoint")
	})
}

// TestBrokerRefusals: what a broker (AWS IoT's policy engine) does to a device it does not
// want, and how check names the cause.
func TestBrokerRefusals(t *testing.T) {
	t.Run("closes the socket after CONNECT", func(t *testing.T) {
		s := newSetup(t, 0, brokerCloseOnConnect)
		results := s.run(t)
		r := expect(t, results, "mqtt", StatusFail, "closed the connection right after CONNECT", `"pi-check"`,
			"iot:Connect", "same client ID")
		if r.Data["closed_after_connect"] != true {
			t.Errorf("data = %v", r.Data)
		}
		expect(t, results, "roundtrip", StatusSkip, "CONNECT failed")
	})

	t.Run("CONNACK not authorised", func(t *testing.T) {
		s := newSetup(t, 0, brokerNotAuthorised)
		results := s.run(t)
		r := expect(t, results, "mqtt", StatusFail, "CONNACK 5", "ACTIVE", "iot:Connect")
		if r.Data["connack"] != byte(5) {
			t.Errorf("connack = %v", r.Data["connack"])
		}
	})

	t.Run("subscription refused", func(t *testing.T) {
		s := newSetup(t, 0, brokerRefuseSubscribe)
		expect(t, s.run(t), "roundtrip", StatusFail, "SUBACK 0x80", "iot:Subscribe")
	})

	t.Run("message never comes back", func(t *testing.T) {
		s := newSetup(t, 0, brokerSwallow)
		s.opts.RoundTrip = 500 * time.Millisecond
		expect(t, s.run(t), "roundtrip", StatusFail, "did not come back", "iot:Receive")
	})

	t.Run("device certificate refused after a TLS 1.3 handshake", func(t *testing.T) {
		s := newSetup(t, 0, brokerEcho)
		other := testbed.NewPKI(t, testbed.PKIOptions{})
		s.broker = startBroker(t, s.pki, brokerEcho, other.Pool())
		s.cfg.MQTT.Port = s.broker.port
		results := s.run(t)
		r := expect(t, results, "tls", StatusFail, "refused the TLS handshake", "ACTIVE")
		if r.Data["kind"] != "rejected by broker" {
			t.Errorf("kind = %v", r.Data["kind"])
		}
		expect(t, results, "mqtt", StatusSkip)
	})

	t.Run("thingd already running", func(t *testing.T) {
		s := newSetup(t, 0, brokerEcho)
		s.opts.DaemonRunning = func(*config.Config) bool { return true }
		results := s.run(t)
		expect(t, results, "mqtt", StatusSkip, "thingd is running", "thingd status")
		expect(t, results, "roundtrip", StatusSkip)
		if Failed(results) || len(s.broker.clients()) != 0 {
			t.Errorf("Failed() = %v, CONNECTs = %v: check must leave a running daemon's client ID alone", Failed(results), s.broker.clients())
		}
	})
}

// TestProxy: every connection goes through mqtt.proxy when it is set; a refusing proxy
// fails the TCP step with its answer and a fix; the password never appears.
func TestProxy(t *testing.T) {
	t.Run("tunnel", func(t *testing.T) {
		s := newSetup(t, 0, brokerEcho)
		addr, targets := connectProxy(t, http.StatusOK)
		s.cfg.MQTT.Proxy = "http://user:secret@" + addr
		results := s.run(t)
		expect(t, results, "dns", StatusPass, "127.0.0.1 is an IP address")
		expect(t, results, "tcp", StatusPass, "through proxy")
		expect(t, results, "roundtrip", StatusPass)
		if got := targets(); len(got) < 3 || got[0] != "CONNECT localhost:"+strconv.Itoa(s.broker.port) {
			t.Errorf("proxy saw %v, want CONNECTs for tcp, tls and mqtt", got)
		}
		for _, r := range results {
			if strings.Contains(r.Detail, "secret") {
				t.Errorf("%s shows the proxy password: %s", r.Step, r.Detail)
			}
		}
	})

	t.Run("credentials wanted", func(t *testing.T) {
		s := newSetup(t, 0, brokerEcho)
		addr, _ := connectProxy(t, http.StatusProxyAuthRequired)
		s.cfg.MQTT.Proxy = "http://" + addr
		results := s.run(t)
		expect(t, results, "tcp", StatusFail, "407", "user:password@")
		expect(t, results, "tls", StatusSkip)
	})
}
