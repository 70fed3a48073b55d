package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// mosquittoPub runs `mosquitto_pub -l -q 1` with the lines of file as messages. With tls it
// connects to the main broker with the lab's client certificate; without, to a local
// plain listener (the bridge's). It returns the wall time and the CPU time (user and
// system) of the whole process.
func (l *lab) mosquittoPub(addr string, tls bool, topic, file string) (wall, cpu time.Duration, err error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, 0, err
	}
	args := []string{l.tools["mosquitto_pub"], "-h", host, "-p", port, "-q", "1", "-t", topic, "-l"}
	if tls {
		args = append(args, "--cafile", l.pki.CAFile, "--cert", l.pki.ClientCertFile, "--key", l.pki.ClientKeyFile)
	}
	in, err := os.Open(file)
	if err != nil {
		return 0, 0, err
	}
	defer in.Close()
	cmd, err := l.ps.command(nil, args...)
	if err != nil {
		return 0, 0, err
	}
	cmd.Stdin = in
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	wall = time.Since(start)
	if err != nil {
		return wall, 0, fmt.Errorf("mosquitto_pub -l to %s: %w: %s", addr, err, strings.TrimSpace(out.String()))
	}
	return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}
