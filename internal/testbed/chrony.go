package testbed

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/beevik/ntp"
)

// ChronyOptions configure StartChrony and LaunchChrony.
type ChronyOptions struct {
	// FakeDays runs chronyd under libfaketime, serving a time that many days ahead.
	FakeDays int
	// Dir holds chrony.conf, chronyd.log and its pid and drift files. "" makes a temporary
	// directory that Close removes; StartChrony uses the test's temp dir.
	Dir string
}

// Chrony is a running chronyd that serves NTP on loopback from its local clock (stratum 8).
type Chrony struct {
	Port    int
	Addr    string // 127.0.0.1:Port, usable as ntp.Query's address as is
	Dir     string
	LogFile string

	proc      *Process
	removeDir bool
}

// StartChrony starts `chronyd -x -d` on a free loopback UDP port and returns once it answers an
// NTP query with a response that passes ntp.Response.Validate. It is stopped in t.Cleanup.
func StartChrony(t testing.TB, o ChronyOptions) *Chrony {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	c, err := LaunchChrony(o)
	if err != nil {
		fail(t, err)
	}
	logOnFailure(t, "chronyd", c.LogFile)
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Log(err)
		}
	})
	return c
}

// LaunchChrony is StartChrony for callers without a testing.T (the bench): the caller stops it
// with Close. An error names chronyd, its port and the last lines of its log.
//
// -x means chronyd never adjusts the system clock; -u root keeps it from dropping to _chrony,
// which could not write its pid and drift files in the 0700 temp dir. cmdport 0 and
// bindcmdaddress / turn off both command sockets, so it never touches /run/chrony of a system
// chronyd.
func LaunchChrony(o ChronyOptions) (_ *Chrony, err error) {
	bin, err := Tool("chronyd", "chrony")
	if err != nil {
		return nil, err
	}
	env, err := fakeTimeEnv(o.FakeDays)
	if err != nil {
		return nil, err
	}
	c := &Chrony{}
	if c.Dir, c.removeDir, err = launchDir(o.Dir, "testbed-chrony-"); err != nil {
		return nil, fmt.Errorf("chronyd: %w", err)
	}
	defer func() {
		if err != nil && c.removeDir {
			os.RemoveAll(c.Dir)
		}
	}()
	if c.Port, err = LoopbackUDPPort(); err != nil {
		return nil, err
	}
	c.Addr = fmt.Sprintf("127.0.0.1:%d", c.Port)
	c.LogFile = filepath.Join(c.Dir, "chronyd.log")
	conf := filepath.Join(c.Dir, "chrony.conf")
	if err := os.WriteFile(conf, []byte(ChronyConf(c.Port, c.Dir)), 0o644); err != nil {
		return nil, fmt.Errorf("write the chronyd config: %w", err)
	}
	if c.proc, err = launchProc("chronyd", c.LogFile, env, bin, "-x", "-d", "-u", "root", "-f", conf); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if c.proc.Exited() {
			return nil, c.proc.startupError(fmt.Sprintf("chronyd -f %s on UDP port %d exited during start-up", conf, c.Port), c.proc.err)
		}
		err := NTPAnswers(c.Addr)
		if err == nil {
			return c, nil
		}
		if time.Now().After(deadline) {
			return nil, c.proc.startupError(fmt.Sprintf("chronyd on %s gave no valid NTP answer within 15s", c.Addr), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Close stops chronyd by PID and removes its directory if LaunchChrony made it. It may be
// called more than once.
func (c *Chrony) Close() error {
	err := c.proc.Stop(10 * time.Second)
	if c.removeDir {
		err = errors.Join(err, os.RemoveAll(c.Dir))
	}
	return err
}

// PID is chronyd's process ID.
func (c *Chrony) PID() int { return c.proc.PID() }

// ChronyConf is chrony.conf for a chronyd serving NTP from its local clock on
// 127.0.0.1:port, with its pid and drift files in dir and both command sockets off (see
// LaunchChrony).
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
