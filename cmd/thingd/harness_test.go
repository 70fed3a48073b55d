package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"thingd/internal/testbed"
)

// world is a broker, an NTP server and a place on disk for one thingd under test.
type world struct {
	broker *testbed.Mosquitto
	pki    *testbed.PKI // the broker's and the device's certificates
	ntp    *testbed.Chrony
	dir    string
	config string
	socket string
}

// worldOptions shape a world; the zero value is a healthy one on this machine's time.
type worldOptions struct {
	BrokerPort int    // thingd connects here (a gate the test controls); 0 = the broker itself
	Extra      string // TOML appended to the config
	FakeDays   int    // broker, chronyd and certificates live this many days ahead
	NoNTP      bool   // clock.servers points at a closed UDP port
}

// newWorld starts real mosquitto (mutual TLS) and chronyd on loopback and writes a config
// for thingd with everything it keeps on disk in a temp dir.
func newWorld(t *testing.T, o worldOptions) *world {
	t.Helper()
	pki := testbed.NewPKI(t, testbed.PKIOptions{Shift: time.Duration(o.FakeDays) * 24 * time.Hour})
	w := &world{broker: testbed.StartMosquitto(t, testbed.MosquittoOptions{PKI: pki, FakeDays: o.FakeDays}), pki: pki, dir: t.TempDir()}
	ntpAddr := fmt.Sprintf("127.0.0.1:%d", testbed.FreeUDPPort(t))
	if !o.NoNTP {
		w.ntp = testbed.StartChrony(t, testbed.ChronyOptions{FakeDays: o.FakeDays})
		ntpAddr = w.ntp.Addr
	}
	brokerPort := o.BrokerPort
	if brokerPort == 0 {
		brokerPort = w.broker.Port
	}
	w.socket = filepath.Join(w.dir, "thingd.sock")
	w.config = filepath.Join(w.dir, "thingd.toml")
	doc := fmt.Sprintf(`version = 1
[mqtt]
endpoint = "localhost"
port = %d
client_id = "thingd-test"
thing_name = "pi"
ca_file = %q
cert_file = %q
key_file = %q
keepalive = "5s"
max_publish_rate = 0
[clock]
servers = [%q]
step = "never"
state_file = %q
[queue]
dir = %q
[local]
socket = %q
[log]
level = "debug"
%s`, brokerPort, pki.CAFile, pki.DeviceCertFile, pki.DeviceKeyFile, ntpAddr,
		filepath.Join(w.dir, "clock"), filepath.Join(w.dir, "queue"), w.socket, o.Extra)
	if err := os.WriteFile(w.config, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}

// daemonProc is a running `thingd run`, started without CAP_SYS_TIME.
type daemonProc struct {
	cmd    *exec.Cmd
	log    *syncBuffer
	notify *notifyListener
	done   chan error
}

func (w *world) start(t *testing.T) *daemonProc {
	t.Helper()
	n := listenNotify(t)
	cmd := testbed.DaemonCommand(t, binary, "run", "--config", w.config)
	p := &daemonProc{cmd: cmd, log: &syncBuffer{}, notify: n, done: make(chan error, 1)}
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+n.path)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("thingd log:\n%s", p.log.String())
		}
	})
	n.waitFor(t, "READY=1", 20*time.Second)
	return p
}

func (p *daemonProc) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

// stop sends SIGTERM and returns the exit code.
func (p *daemonProc) stop(t *testing.T) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		return 0
	case <-time.After(30 * time.Second):
		t.Fatal("thingd did not stop within 30s of SIGTERM")
		return -1
	}
}

// gate is a TCP forwarder the test opens and closes: a network cut between thingd and
// the broker that the test controls.
type gate struct {
	port   int
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
	holes  map[net.Conn]bool // connections whose traffic is swallowed
}

func newGate(t *testing.T) *gate {
	g := &gate{port: testbed.FreeTCPPort(t)}
	t.Cleanup(g.close)
	return g
}

func (g *gate) open(t *testing.T, target string) {
	t.Helper()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", g.port))
	if err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	g.ln, g.target = ln, target
	g.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			g.mu.Lock()
			g.conns = append(g.conns, c, u)
			g.mu.Unlock()
			go func() { g.pipe(u, c); u.Close() }()
			go func() { g.pipe(c, u); c.Close() }()
		}
	}()
}

// pipe copies src to dst until either ends, dropping what passes while src is a hole.
func (g *gate) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			g.mu.Lock()
			hole := g.holes[src]
			g.mu.Unlock()
			if !hole {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// blackHole keeps the open connections up but swallows their traffic both ways, so
// whatever thingd publishes on them stays in flight with no PUBACK; new connections pass.
func (g *gate) blackHole() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.holes == nil {
		g.holes = map[net.Conn]bool{}
	}
	for _, c := range g.conns {
		g.holes[c] = true
	}
}

func (g *gate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln != nil {
		g.ln.Close()
		g.ln = nil
	}
	for _, c := range g.conns {
		c.Close()
	}
	g.conns = nil
}

// notifyListener plays systemd's side of sd_notify.
type notifyListener struct {
	path string
	conn *net.UnixConn
	mu   sync.Mutex
	msgs []string
	next int // waitFor looks at messages from here on
	more chan struct{}
}

func listenNotify(t *testing.T) *notifyListener {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	n := &notifyListener{path: path, conn: conn, more: make(chan struct{}, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			n.msgs = append(n.msgs, string(buf[:k]))
			n.mu.Unlock()
			select {
			case n.more <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return n
}

func (n *notifyListener) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.msgs...)
}

// waitFor waits for the next datagram containing want, after the one it returned last,
// so that two waits for WATCHDOG=1 need two pings.
func (n *notifyListener) waitFor(t *testing.T, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		n.mu.Lock()
		msgs := append([]string(nil), n.msgs...)
		for i := n.next; i < len(msgs); i++ {
			if strings.Contains(msgs[i], want) {
				n.next = i + 1
				n.mu.Unlock()
				return msgs[i]
			}
		}
		n.mu.Unlock()
		select {
		case <-n.more:
		case <-deadline:
			t.Fatalf("no %q from thingd within %s; got %q", want, timeout, msgs)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
