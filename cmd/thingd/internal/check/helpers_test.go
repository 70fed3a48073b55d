package check

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/ntp"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"thingd/daemon/config"
	"thingd/internal/testbed"
)

// brokerMode is how the fake broker behaves after the TLS handshake.
type brokerMode int

const (
	brokerEcho            brokerMode = iota // CONNACK 0, SUBACK, PUBACK, and the message back
	brokerCloseOnConnect                    // close right after CONNECT: AWS IoT's policy denial
	brokerNotAuthorised                     // CONNACK 5
	brokerRefuseSubscribe                   // SUBACK 0x80
	brokerSwallow                           // PUBACK, but never deliver
)

// fakeBroker speaks just enough MQTT 3.1.1 over mutual TLS for check's CONNECT and round trip.
type fakeBroker struct {
	addr string
	port int
	mode brokerMode
	ln   net.Listener
	wg   sync.WaitGroup

	mu        sync.Mutex
	conns     []net.Conn
	clientIDs []string
	cleans    []bool
}

// startBroker serves pki's server certificate and asks for a client certificate signed by
// clientCAs (pki's own CA when nil). Its clock runs pki.Shift ahead, like a world in the future.
func startBroker(t *testing.T, pki *testbed.PKI, mode brokerMode, clientCAs *x509.CertPool) *fakeBroker {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(pki.ServerCertFile, pki.ServerKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if clientCAs == nil {
		clientCAs = pki.Pool()
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCAs,
		Time:         func() time.Time { return time.Now().Add(pki.Shift) },
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := &fakeBroker{addr: ln.Addr().String(), port: ln.Addr().(*net.TCPAddr).Port, mode: mode, ln: ln}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns = append(b.conns, c)
			b.mu.Unlock()
			b.wg.Add(1)
			go func() { defer b.wg.Done(); b.serve(c.(*tls.Conn)) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		for _, c := range b.conns {
			c.Close()
		}
		b.mu.Unlock()
		b.wg.Wait()
	})
	return b
}

func (b *fakeBroker) serve(c *tls.Conn) {
	defer c.Close()
	if err := c.Handshake(); err != nil {
		return
	}
	p, err := packets.ReadPacket(c)
	if err != nil {
		return
	}
	connect, ok := p.(*packets.ConnectPacket)
	if !ok {
		return
	}
	b.mu.Lock()
	b.clientIDs = append(b.clientIDs, connect.ClientIdentifier)
	b.cleans = append(b.cleans, connect.CleanSession)
	b.mu.Unlock()
	ack := packets.NewControlPacket(packets.Connack).(*packets.ConnackPacket)
	switch b.mode {
	case brokerCloseOnConnect:
		return
	case brokerNotAuthorised:
		ack.ReturnCode = packets.ErrRefusedNotAuthorised
		_ = ack.Write(c)
		return
	}
	if ack.Write(c) != nil {
		return
	}
	for {
		p, err := packets.ReadPacket(c)
		if err != nil {
			return
		}
		var out []packets.ControlPacket
		switch p := p.(type) {
		case *packets.SubscribePacket:
			s := packets.NewControlPacket(packets.Suback).(*packets.SubackPacket)
			s.MessageID, s.ReturnCodes = p.MessageID, []byte{1}
			if b.mode == brokerRefuseSubscribe {
				s.ReturnCodes = []byte{0x80}
			}
			out = append(out, s)
		case *packets.UnsubscribePacket:
			u := packets.NewControlPacket(packets.Unsuback).(*packets.UnsubackPacket)
			u.MessageID = p.MessageID
			out = append(out, u)
		case *packets.PublishPacket:
			a := packets.NewControlPacket(packets.Puback).(*packets.PubackPacket)
			a.MessageID = p.MessageID
			out = append(out, a)
			if b.mode == brokerEcho {
				back := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
				back.TopicName, back.Payload, back.Qos, back.MessageID = p.TopicName, p.Payload, 1, 7
				out = append(out, back)
			}
		case *packets.PingreqPacket:
			out = append(out, packets.NewControlPacket(packets.Pingresp))
		case *packets.DisconnectPacket:
			return
		}
		for _, o := range out {
			if o.Write(c) != nil {
				return
			}
		}
	}
}

func (b *fakeBroker) clients() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.clientIDs...)
}

// ntpAnswer is one fake NTP server: its clock runs offset ahead of the system clock, or it fails.
type ntpAnswer struct {
	offset time.Duration
	err    error
	mangle func(*ntp.Response)
}

// fakeNTP answers queries from the servers in the map; now is the system clock of the test.
func fakeNTP(now func() time.Time, servers map[string]ntpAnswer) func(context.Context, string) (*ntp.Response, error) {
	return func(_ context.Context, addr string) (*ntp.Response, error) {
		a, ok := servers[addr]
		if !ok {
			return nil, fmt.Errorf("read udp %s: connection refused", addr)
		}
		if a.err != nil {
			return nil, a.err
		}
		t := now().Add(a.offset)
		r := &ntp.Response{ClockOffset: a.offset, RTT: 10 * time.Millisecond, Stratum: 2, Version: 4,
			Time: t, ReferenceTime: t.Add(-time.Minute), RootDistance: 10 * time.Millisecond}
		if a.mangle != nil {
			a.mangle(r)
		}
		return r, nil
	}
}

// setup is one check run's world: certificates, a fake broker, a config and options.
type setup struct {
	pki    *testbed.PKI
	broker *fakeBroker
	cfg    *config.Config
	opts   Options
}

// newSetup makes a healthy world: certificates valid now+shift, a fake broker living at
// now+shift, one NTP server ("127.0.0.1:123") whose offset is shift, no daemon running.
func newSetup(t *testing.T, shift time.Duration, mode brokerMode) *setup {
	t.Helper()
	pki := testbed.NewPKI(t, testbed.PKIOptions{Shift: shift})
	s := &setup{pki: pki, broker: startBroker(t, pki, mode, nil)}
	s.cfg = testConfig(t, pki, s.broker.port)
	s.opts = Options{
		Now:           time.Now,
		QueryNTP:      fakeNTP(time.Now, map[string]ntpAnswer{"127.0.0.1:123": {offset: shift}}),
		LookupHost:    func(context.Context, string) ([]string, error) { return []string{"127.0.0.1"}, nil },
		DaemonRunning: func(*config.Config) bool { return false },
		Settle:        200 * time.Millisecond,
		RoundTrip:     3 * time.Second,
	}
	return s
}

func testConfig(t *testing.T, pki *testbed.PKI, port int) *config.Config {
	t.Helper()
	dir := t.TempDir()
	doc := fmt.Sprintf(`version = 1
[mqtt]
endpoint = "localhost"
port = %d
client_id = "pi-check"
thing_name = "pi"
ca_file = %q
cert_file = %q
key_file = %q
keepalive = "30s"
[clock]
servers = ["127.0.0.1"]
step = "never"
state_file = %q
[queue]
dir = %q
[local]
socket = %q
`, port, pki.CAFile, pki.DeviceCertFile, pki.DeviceKeyFile,
		filepath.Join(dir, "clock"), filepath.Join(dir, "queue"), filepath.Join(dir, "thingd.sock"))
	cfg, err := config.Parse(filepath.Join(dir, "thingd.toml"), []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func (s *setup) run(t *testing.T) []Result {
	t.Helper()
	results := Run(context.Background(), s.cfg, s.opts)
	if t.Failed() || testing.Verbose() {
		var b strings.Builder
		_ = Print(&b, results, false)
		t.Logf("results:\n%s", b.String())
	}
	return results
}

// find returns the first result of step.
func find(t *testing.T, results []Result, step string) Result {
	t.Helper()
	for _, r := range results {
		if r.Step == step {
			return r
		}
	}
	t.Fatalf("no %s result in %v", step, results)
	return Result{}
}

// expect checks a step's status and that its detail or fix mention every one of want.
func expect(t *testing.T, results []Result, step string, status Status, want ...string) Result {
	t.Helper()
	r := find(t, results, step)
	if r.Status != status {
		t.Errorf("%s is %s, want %s: %s; fix: %s", step, r.Status, status, r.Detail, r.Fix)
	}
	for _, w := range want {
		if !strings.Contains(r.Detail, w) && !strings.Contains(r.Fix, w) {
			t.Errorf("%s does not mention %q: %s; fix: %s", step, w, r.Detail, r.Fix)
		}
	}
	return r
}

// connectProxy is an HTTP CONNECT proxy on loopback; answer, if not 200, refuses every tunnel.
func connectProxy(t *testing.T, answer int) (addr string, targets func() []string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		seen []string
		wg   sync.WaitGroup
		open []net.Conn
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				mu.Lock()
				seen = append(seen, req.Method+" "+req.Host)
				mu.Unlock()
				if answer != http.StatusOK {
					fmt.Fprintf(c, "HTTP/1.1 %d %s\r\n\r\n", answer, http.StatusText(answer))
					return
				}
				up, err := net.Dial("tcp", req.Host)
				if err != nil {
					fmt.Fprintf(c, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
					return
				}
				defer up.Close()
				mu.Lock()
				open = append(open, up)
				mu.Unlock()
				fmt.Fprintf(c, "HTTP/1.1 200 Connection established\r\n\r\n")
				done := make(chan struct{})
				go func() { _, _ = io.Copy(up, br); up.Close(); close(done) }()
				_, _ = io.Copy(c, up)
				c.Close()
				<-done
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String(), func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

// jsonObjects round-trips results through JSON as a script would read them.
func jsonObjects(t *testing.T, results []Result) []map[string]any {
	t.Helper()
	var b strings.Builder
	if err := JSON(&b, results); err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	if err := json.Unmarshal([]byte(b.String()), &out); err != nil {
		t.Fatalf("%v:\n%s", err, b.String())
	}
	return out
}
