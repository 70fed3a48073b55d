package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"thingd/internal/testbed"
)

// chrony is chronyd serving NTP on loopback from the local clock, so thingd's clock syncs
// at once and the first connection does not wait for trusted time.
type chrony struct {
	addr string
	p    *proc
}

// startChrony runs `chronyd -x -d`: -x never adjusts the system clock, -u root lets it
// write into the lab's directory, and cmdport 0 / bindcmdaddress / keep it away from the
// sockets of a system chronyd.
func startChrony(l *lab) (*chrony, error) {
	port, err := freeUDPPort()
	if err != nil {
		return nil, err
	}
	dir := l.subdir("chrony")
	conf := filepath.Join(dir, "chrony.conf")
	if err := os.WriteFile(conf, []byte(testbed.ChronyConf(port, dir)), 0o644); err != nil {
		return nil, err
	}
	p, err := l.ps.start("chronyd", filepath.Join(dir, "chronyd.log"), nil, l.tools["chronyd"], "-x", "-d", "-u", "root", "-f", conf)
	if err != nil {
		return nil, err
	}
	c := &chrony{addr: fmt.Sprintf("127.0.0.1:%d", port), p: p}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if p.exited() {
			return nil, fmt.Errorf("chronyd -f %s exited during start-up: %v", conf, p.err)
		}
		err := testbed.NTPAnswers(c.addr)
		if err == nil {
			return c, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("chronyd on %s gave no valid NTP answer within 15s: %w", c.addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
