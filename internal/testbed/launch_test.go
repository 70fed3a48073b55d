package testbed_test

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"thingd/internal/testbed"
)

// skipIfMissing skips (fails under CI=true) when a launcher reports a missing program.
func skipIfMissing(t *testing.T, err error) {
	t.Helper()
	var ni *testbed.NotInstalledError
	if errors.As(err, &ni) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
}

// alive reports whether a process with this PID still exists.
func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// A broker that cannot start is reported with its name, its port and its own complaint from
// its log, and leaves no process and no directory behind.
func TestLaunchMosquittoExplainsFailure(t *testing.T) {
	m, err := testbed.LaunchMosquitto(testbed.MosquittoOptions{Name: "mosquitto broken", Extra: "no_such_option_thingd 1"})
	skipIfMissing(t, err)
	if err == nil {
		m.Close()
		t.Fatal("mosquitto started with an unknown configuration option")
	}
	msg := err.Error()
	for _, want := range []string{"mosquitto broken", "exited during start-up", "no_such_option_thingd"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if !strings.Contains(msg, "port ") {
		t.Errorf("error names no port:\n%s", msg)
	}
	t.Logf("as expected: %v", err)
}

// The error-returning launchers run, report a PID, restart on the same port and clean up
// after themselves in Close.
func TestLaunchMosquittoPlainAndClose(t *testing.T) {
	m, err := testbed.LaunchMosquitto(testbed.MosquittoOptions{Plain: true, Persistence: true, LogTypes: []string{"error", "notice"}})
	skipIfMissing(t, err)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := testbed.ProbeMQTT(m.Addr, nil, 5*time.Second); err != nil {
		t.Fatalf("plain MQTT CONNECT: %v", err)
	}
	pid := m.PID()
	if pid == 0 || !alive(pid) {
		t.Fatalf("PID %d is not a running broker", pid)
	}
	if err := m.StopErr(); err != nil {
		t.Fatal(err)
	}
	if m.PID() != 0 || alive(pid) {
		t.Fatalf("broker pid %d still runs after StopErr", pid)
	}
	if err := m.StartErr(); err != nil {
		t.Fatal(err)
	}
	if err := m.StartErr(); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second StartErr: %v, want already running", err)
	}
	pid = m.PID()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Errorf("broker pid %d still runs after Close", pid)
	}
	if _, err := os.Stat(m.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Close left %s: %v", m.Dir, err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestLaunchChronyAndClose(t *testing.T) {
	c, err := testbed.LaunchChrony(testbed.ChronyOptions{})
	skipIfMissing(t, err)
	if err != nil {
		t.Fatal(err)
	}
	if err := testbed.NTPAnswers(c.Addr); err != nil {
		c.Close()
		t.Fatalf("NTP query to %s: %v", c.Addr, err)
	}
	pid := c.PID()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Errorf("chronyd pid %d still runs after Close", pid)
	}
	if _, err := os.Stat(c.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Close left %s: %v", c.Dir, err)
	}
}

// A PKI made without a testing.T issues extra identities and both TLS sides.
func TestMakePKI(t *testing.T) {
	p, err := testbed.MakePKI(t.TempDir(), testbed.PKIOptions{Name: "thingd bench"})
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := p.Issue("bench-bridge")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.ClientTLSFor(cert, key); err != nil {
		t.Fatal(err)
	}
	if _, err := p.ServerTLS(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.CA.Subject.CommonName, "thingd bench") {
		t.Errorf("CA CN %q, want the Name option", p.CA.Subject.CommonName)
	}
}
