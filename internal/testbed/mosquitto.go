package testbed

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// MosquittoOptions configure StartMosquitto and LaunchMosquitto.
type MosquittoOptions struct {
	// PKI supplies the certificates; nil makes a fresh one, shifted by FakeDays.
	PKI *PKI
	// FakeDays runs the broker under libfaketime that many days ahead of this machine.
	FakeDays int
	// Persistence keeps sessions and queued messages across Stop/Start (in the broker's dir).
	Persistence bool
	// Extra is appended verbatim to mosquitto.conf (after the listener, so a bridge's
	// `connection` section may go here).
	Extra string

	// Name tells brokers apart in errors ("mosquitto main"); "" is "mosquitto".
	Name string
	// Dir holds mosquitto.conf, mosquitto.log and the persistence file. "" makes a temporary
	// directory that Close removes; StartMosquitto uses the test's temp dir.
	Dir string
	// LogTypes are mosquitto's log_type lines; nil logs everything. A benchmark leaves out
	// the per-message types, whose logging would dominate its figures.
	LogTypes []string
	// Plain makes an MQTT listener without TLS that accepts anonymous clients (a local broker
	// such as a bridge's), instead of the mutual-TLS one.
	Plain bool
	// StopGrace is how long Stop waits after SIGTERM before SIGKILL; 0 is 10s. A broker with a
	// large persistent queue needs longer to save it.
	StopGrace time.Duration
}

// Mosquitto is a running mosquitto that requires a client certificate signed by PKI.CA (or, with
// Plain, a local broker without TLS).
type Mosquitto struct {
	Name    string
	Port    int
	Addr    string // 127.0.0.1:Port
	PKI     *PKI
	Dir     string // mosquitto.conf, mosquitto.log, persistence
	LogFile string

	bin, conf string
	env       []string
	plain     bool
	grace     time.Duration
	removeDir bool
	probeTLS  *tls.Config
	mu        sync.Mutex
	proc      *Process
}

// StartMosquitto starts mosquitto on a free loopback port and returns once it accepts an MQTT
// connection from a test-side client. It is stopped in t.Cleanup.
func StartMosquitto(t testing.TB, o MosquittoOptions) *Mosquitto {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.PKI == nil && !o.Plain {
		o.PKI = NewPKI(t, PKIOptions{Shift: time.Duration(o.FakeDays) * 24 * time.Hour})
	}
	m, err := LaunchMosquitto(o)
	if err != nil {
		fail(t, err)
	}
	logOnFailure(t, m.Name, m.LogFile)
	// One cleanup for every Start, registered before any test-side client's, so the clients
	// disconnect from a live broker instead of chasing a stopped one.
	t.Cleanup(func() { m.Stop(t) })
	return m
}

// LaunchMosquitto is StartMosquitto for callers without a testing.T (the bench): the caller
// stops it with Close. An error names the broker, its port and the last lines of its log.
func LaunchMosquitto(o MosquittoOptions) (_ *Mosquitto, err error) {
	if o.Name == "" {
		o.Name = "mosquitto"
	}
	m := &Mosquitto{Name: o.Name, PKI: o.PKI, plain: o.Plain, grace: o.StopGrace}
	if m.grace == 0 {
		m.grace = 10 * time.Second
	}
	if m.bin, err = Tool("mosquitto", "mosquitto"); err != nil {
		return nil, err
	}
	if m.env, err = fakeTimeEnv(o.FakeDays); err != nil {
		return nil, err
	}
	if m.Dir, m.removeDir, err = launchDir(o.Dir, "testbed-mosquitto-"); err != nil {
		return nil, fmt.Errorf("%s: %w", o.Name, err)
	}
	defer func() {
		if err != nil && m.removeDir {
			os.RemoveAll(m.Dir)
		}
	}()
	if m.PKI == nil && !o.Plain {
		if m.PKI, err = MakePKI(filepath.Join(m.Dir, "pki"), PKIOptions{Shift: time.Duration(o.FakeDays) * 24 * time.Hour}); err != nil {
			return nil, err
		}
	}
	if !o.Plain {
		if m.probeTLS, err = m.PKI.ClientTLSFor(m.PKI.ClientCertFile, m.PKI.ClientKeyFile); err != nil {
			return nil, err
		}
	}
	if m.Port, err = LoopbackTCPPort(); err != nil {
		return nil, err
	}
	m.Addr = fmt.Sprintf("127.0.0.1:%d", m.Port)
	m.LogFile = filepath.Join(m.Dir, "mosquitto.log")
	m.conf = filepath.Join(m.Dir, "mosquitto.conf")
	if err := os.WriteFile(m.conf, []byte(m.config(o)), 0o644); err != nil {
		return nil, fmt.Errorf("write the config of %s: %w", o.Name, err)
	}
	if err := m.StartErr(); err != nil {
		return nil, err
	}
	return m, nil
}

// config is the broker's whole configuration. `user root` keeps it from dropping to the
// mosquitto user, which could not read the 0700 temp dirs holding the keys.
func (m *Mosquitto) config(o MosquittoOptions) string {
	var b strings.Builder
	b.WriteString("user root\nlog_dest stderr\n")
	types := o.LogTypes
	if types == nil {
		types = []string{"all"}
	}
	for _, lt := range types {
		fmt.Fprintf(&b, "log_type %s\n", lt)
	}
	b.WriteString("log_timestamp_format %Y-%m-%dT%H:%M:%S\n")
	if o.Persistence {
		fmt.Fprintf(&b, "persistence true\npersistence_location %s/\n", m.Dir)
	} else {
		b.WriteString("persistence false\n")
	}
	fmt.Fprintf(&b, "listener %d 127.0.0.1\n", m.Port)
	if o.Plain {
		b.WriteString("allow_anonymous true\n")
	} else {
		fmt.Fprintf(&b, "cafile %s\ncertfile %s\nkeyfile %s\n", m.PKI.CAFile, m.PKI.ServerCertFile, m.PKI.ServerKeyFile)
		b.WriteString("require_certificate true\nuse_identity_as_username true\nallow_anonymous false\n")
	}
	if o.Extra != "" {
		b.WriteString(o.Extra + "\n")
	}
	return b.String()
}

// Start starts the broker again on the same port after Stop; it returns once it accepts.
func (m *Mosquitto) Start(t testing.TB) {
	t.Helper()
	if err := m.StartErr(); err != nil {
		t.Fatal(err)
	}
}

// StartErr is Start for callers without a testing.T.
func (m *Mosquitto) StartErr() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc != nil && !m.proc.Exited() {
		return fmt.Errorf("%s on %s is already running (pid %d)", m.Name, m.Addr, m.proc.PID())
	}
	p, err := launchProc(m.Name, m.LogFile, m.env, m.bin, "-c", m.conf)
	if err != nil {
		return err
	}
	m.proc = p
	return m.waitReady()
}

// Stop stops the broker (SIGTERM by PID) and waits until it has exited.
func (m *Mosquitto) Stop(t testing.TB) {
	t.Helper()
	if err := m.StopErr(); err != nil {
		t.Log(err) // killed after ignoring SIGTERM: worth a line, not a failure
	}
}

// StopErr is Stop for callers without a testing.T; the error says the broker had to be killed.
func (m *Mosquitto) StopErr() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc == nil {
		return nil
	}
	return m.proc.Stop(m.grace)
}

// Restart is Stop then Start, keeping the port, so clients can reconnect to the same address.
func (m *Mosquitto) Restart(t testing.TB) {
	t.Helper()
	m.Stop(t)
	m.Start(t)
}

// Close stops the broker and removes its directory if LaunchMosquitto made it. It may be called
// more than once.
func (m *Mosquitto) Close() error {
	err := m.StopErr()
	if m.removeDir {
		err = errors.Join(err, os.RemoveAll(m.Dir))
	}
	return err
}

// PID is the running broker's process ID (for /proc measurements), 0 when it is not running.
func (m *Mosquitto) PID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc == nil || m.proc.Exited() {
		return 0
	}
	return m.proc.PID()
}

// waitReady waits for a CONNACK (a TLS listener) or a plain MQTT CONNACK; m.mu is held.
func (m *Mosquitto) waitReady() error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		if m.proc.Exited() {
			return m.proc.startupError(fmt.Sprintf("%s -c %s on port %d exited during start-up", m.Name, m.conf, m.Port), m.proc.err)
		}
		err := ProbeMQTT(m.Addr, m.probeTLS, time.Second)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return m.proc.startupError(fmt.Sprintf("%s on %s did not accept an MQTT connection within 15s", m.Name, m.Addr), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
