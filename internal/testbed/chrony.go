package testbed

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/beevik/ntp"
)

// ChronyOptions configure StartChrony.
type ChronyOptions struct {
	// FakeDays runs chronyd under libfaketime, serving a time that many days ahead.
	FakeDays int
}

// Chrony is a running chronyd that serves NTP on loopback from its local clock (stratum 8).
type Chrony struct {
	Port    int
	Addr    string // 127.0.0.1:Port, usable as ntp.Query's address as is
	Dir     string
	LogFile string
}

// StartChrony starts `chronyd -x -d` on a free loopback UDP port and returns once it answers an
// NTP query with a response that passes ntp.Response.Validate. It is stopped in t.Cleanup.
//
// -x means chronyd never adjusts the system clock; -u root keeps it from dropping to _chrony,
// which could not write its pid and drift files in the 0700 temp dir. cmdport 0 and
// bindcmdaddress / turn off both command sockets, so it never touches /run/chrony of a system
// chronyd.
func StartChrony(t testing.TB, o ChronyOptions) *Chrony {
	t.Helper()
	bin := Require(t, "chronyd", "chrony")
	env := fakeTimeEnv(t, o.FakeDays)
	c := &Chrony{Port: FreeUDPPort(t), Dir: t.TempDir()}
	c.Addr = fmt.Sprintf("127.0.0.1:%d", c.Port)
	c.LogFile = filepath.Join(c.Dir, "chronyd.log")
	conf := filepath.Join(c.Dir, "chrony.conf")
	if err := os.WriteFile(conf, []byte(ChronyConf(c.Port, c.Dir)), 0o644); err != nil {
		t.Fatalf("write %s: %v", conf, err)
	}
	logOnFailure(t, "chronyd", c.LogFile)
	p := startProc(t, "chronyd", c.LogFile, env, bin, "-x", "-d", "-u", "root", "-f", conf)
	t.Cleanup(func() { p.stop(t) })

	deadline := time.Now().Add(15 * time.Second)
	for {
		if p.exited() {
			t.Fatalf("chronyd -f %s exited during start-up: %v", conf, p.err)
		}
		err := c.check()
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("chronyd on %s gave no valid NTP answer within 15s: %v", c.Addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *Chrony) check() error { return NTPAnswers(c.Addr) }

// ChronyConf is chrony.conf for a chronyd serving NTP from its local clock on
// 127.0.0.1:port, with its pid and drift files in dir and both command sockets off (see
// StartChrony). The bench starts its own chronyd with it, under its own process tracking.
func ChronyConf(port int, dir string) string {
	return fmt.Sprintf("port %d\nbindaddress 127.0.0.1\nlocal stratum 8\nallow 127.0.0.1\n"+
		"cmdport 0\nbindcmdaddress /\npidfile %s\ndriftfile %s\n",
		port, filepath.Join(dir, "chronyd.pid"), filepath.Join(dir, "chrony.drift"))
}

// NTPAnswers is nil once addr gives an NTP answer that passes ntp.Response.Validate.
func NTPAnswers(addr string) error {
	resp, err := ntp.QueryWithOptions(addr, ntp.QueryOptions{Timeout: 500 * time.Millisecond})
	if err != nil {
		return err
	}
	return resp.Validate()
}
