package testbed_test

import (
	"context"
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

// ClockSafeCommand (the bench's way to start thingd and its tools) drops CAP_SYS_TIME like
// DaemonCommand, and StartProcess's Stop kills, by PID, a process that ignores SIGTERM.
func TestClockSafeProcess(t *testing.T) {
	sh := testbed.Require(t, "sh", "dash")
	cmd, err := testbed.ClockSafeCommand(context.Background(), nil, sh, "-c", "cat /proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("run sh through setpriv: %v", err)
	}
	for name, v := range capSets(t, out) {
		if v&(1<<capSysTime) != 0 {
			t.Errorf("%s = %016x still has CAP_SYS_TIME", name, v)
		}
	}

	cmd, err = testbed.ClockSafeCommand(context.Background(), nil, sh, "-c", `trap "" TERM; echo up; while :; do sleep 0.1; done`)
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p, err := testbed.StartProcess("stubborn", cmd)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stdout.Read(make([]byte, 3)); err != nil { // the trap is set
		p.Kill()
		t.Fatal(err)
	}
	err = p.Stop(300 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "stubborn") || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Stop of a process ignoring SIGTERM: %v, want it named and killed", err)
	}
	if !p.Exited() || p.ExitCode() != -1 {
		t.Errorf("after Stop: exited %v, exit code %d, want true and -1", p.Exited(), p.ExitCode())
	}
}
