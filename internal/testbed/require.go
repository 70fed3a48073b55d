package testbed

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Require returns the absolute path of bin. A missing binary skips the test with the apt-get
// line that installs it, except under CI=true, where a skipped integration test would hide a
// missing install step, so it fails instead.
func Require(t testing.TB, bin, aptPkg string) string {
	t.Helper()
	p, err := Tool(bin, aptPkg)
	if err != nil {
		fail(t, err)
	}
	return p
}

// LookPath is exec.LookPath that also searches the sbin directories, which a non-login PATH
// often lacks although mosquitto and chronyd live there.
func LookPath(bin string) (string, error) {
	p, err := exec.LookPath(bin)
	if err == nil {
		return filepath.Abs(p)
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		c := filepath.Join(dir, bin)
		if fi, serr := os.Stat(c); serr == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return c, nil
		}
	}
	return "", err
}

// FreeTCPPort returns a loopback TCP port that was free a moment ago.
func FreeTCPPort(t testing.TB) int {
	t.Helper()
	port, err := LoopbackTCPPort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// FreeUDPPort returns a loopback UDP port that was free a moment ago.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	port, err := LoopbackUDPPort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// LoopbackTCPPort is FreeTCPPort for callers without a testing.T.
func LoopbackTCPPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free TCP port on 127.0.0.1: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// LoopbackUDPPort is FreeUDPPort for callers without a testing.T.
func LoopbackUDPPort() (int, error) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free UDP port on 127.0.0.1: %w", err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}
