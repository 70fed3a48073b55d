package testbed

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// MosquittoOptions configure StartMosquitto.
type MosquittoOptions struct {
	// PKI supplies the certificates; nil makes a fresh one, shifted by FakeDays.
	PKI *PKI
	// FakeDays runs the broker under libfaketime that many days ahead of this machine.
	FakeDays int
	// Persistence keeps sessions and queued messages across Stop/Start (in the broker's dir).
	Persistence bool
	// Extra is appended verbatim to mosquitto.conf.
	Extra string
}

// Mosquitto is a running mosquitto that requires a client certificate signed by PKI.CA.
type Mosquitto struct {
	Port    int
	Addr    string // 127.0.0.1:Port
	PKI     *PKI
	Dir     string // mosquitto.conf, mosquitto.log, persistence
	LogFile string

	bin, conf string
	env       []string
	mu        sync.Mutex
	proc      *proc
}

// StartMosquitto starts mosquitto on a free loopback port and returns once it accepts an MQTT
// connection from a test-side client. It is stopped in t.Cleanup.
func StartMosquitto(t testing.TB, o MosquittoOptions) *Mosquitto {
	t.Helper()
	m := &Mosquitto{bin: Require(t, "mosquitto", "mosquitto"), PKI: o.PKI, Dir: t.TempDir()}
	m.env = fakeTimeEnv(t, o.FakeDays)
	if m.PKI == nil {
		m.PKI = NewPKI(t, PKIOptions{Shift: time.Duration(o.FakeDays) * 24 * time.Hour})
	}
	m.Port = FreeTCPPort(t)
	m.Addr = fmt.Sprintf("127.0.0.1:%d", m.Port)
	m.LogFile = filepath.Join(m.Dir, "mosquitto.log")
	m.conf = filepath.Join(m.Dir, "mosquitto.conf")
	if err := os.WriteFile(m.conf, []byte(m.config(o)), 0o644); err != nil {
		t.Fatalf("write %s: %v", m.conf, err)
	}
	logOnFailure(t, "mosquitto", m.LogFile)
	// One cleanup for every Start, registered before any test-side client's, so the clients
	// disconnect from a live broker instead of chasing a stopped one.
	t.Cleanup(func() { m.Stop(t) })
	m.Start(t)
	return m
}

// config is the broker's whole configuration. `user root` keeps it from dropping to the
// mosquitto user, which could not read the 0700 temp dirs holding the keys.
func (m *Mosquitto) config(o MosquittoOptions) string {
	var b strings.Builder
	fmt.Fprintf(&b, "user root\nlog_dest stderr\nlog_type all\nlog_timestamp_format %%Y-%%m-%%dT%%H:%%M:%%S\n")
	if o.Persistence {
		fmt.Fprintf(&b, "persistence true\npersistence_location %s/\n", m.Dir)
	} else {
		b.WriteString("persistence false\n")
	}
	fmt.Fprintf(&b, "listener %d 127.0.0.1\n", m.Port)
	fmt.Fprintf(&b, "cafile %s\ncertfile %s\nkeyfile %s\n", m.PKI.CAFile, m.PKI.ServerCertFile, m.PKI.ServerKeyFile)
	b.WriteString("require_certificate true\nuse_identity_as_username true\nallow_anonymous false\n")
	if o.Extra != "" {
		b.WriteString(o.Extra + "\n")
	}
	return b.String()
}

// Start starts the broker again on the same port after Stop; it returns once it accepts.
func (m *Mosquitto) Start(t testing.TB) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc != nil && !m.proc.exited() {
		t.Fatalf("mosquitto on %s is already running", m.Addr)
	}
	m.proc = startProc(t, "mosquitto", m.LogFile, m.env, m.bin, "-c", m.conf)
	m.waitReady(t)
}

// Stop stops the broker (SIGTERM by PID) and waits until it has exited.
func (m *Mosquitto) Stop(t testing.TB) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc != nil {
		m.proc.stop(t)
	}
}

// Restart is Stop then Start, keeping the port, so clients can reconnect to the same address.
func (m *Mosquitto) Restart(t testing.TB) {
	t.Helper()
	m.Stop(t)
	m.Start(t)
}

func (m *Mosquitto) waitReady(t testing.TB) {
	t.Helper()
	cfg := m.PKI.ClientTLS(t)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if m.proc.exited() {
			t.Fatalf("mosquitto -c %s exited during start-up: %v (log: %s)", m.conf, m.proc.err, m.LogFile)
		}
		err := ProbeMQTT(m.Addr, cfg, time.Second)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto on %s did not accept an MQTT connection within 15s: %v", m.Addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
