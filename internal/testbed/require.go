package testbed

import (
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
	if p, err := LookPath(bin); err == nil {
		return p
	}
	msg := bin + " is not installed; install it with: apt-get install -y " + aptPkg
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free TCP port on 127.0.0.1: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreeUDPPort returns a loopback UDP port that was free a moment ago.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free UDP port on 127.0.0.1: %v", err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}
