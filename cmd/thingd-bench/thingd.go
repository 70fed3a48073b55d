package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"thingd/internal/testbed"
)

// thingdSetup is one thingd's files: a config pointing at a broker port, a queue and a socket.
type thingdSetup struct {
	dir    string
	config string
	socket string
	queue  string
	log    string
	env    []string // extra environment, e.g. GOGC
}

// newThingd writes a config for a thingd that connects to 127.0.0.1:port and keeps its queue
// in queueDir ("" = a fresh one). clock.step is "never": the lab never lets anything set
// the clock, and chronyd only serves time.
func (l *lab) newThingd(name string, port int, queueDir string) (*thingdSetup, error) {
	s := &thingdSetup{dir: l.subdir(name), env: l.thingdEnv}
	s.config = filepath.Join(s.dir, "thingd.toml")
	s.socket = filepath.Join(s.dir, "thingd.sock")
	s.log = filepath.Join(s.dir, "thingd.log")
	s.queue = queueDir
	if s.queue == "" {
		s.queue = filepath.Join(s.dir, "queue")
	}
	doc := fmt.Sprintf(`version = 1
[mqtt]
endpoint = "localhost"
port = %d
client_id = "thingd-bench"
thing_name = "pi"
ca_file = %q
cert_file = %q
key_file = %q
keepalive = "30s"
max_publish_rate = 0
[clock]
servers = [%q]
step = "never"
state_file = %q
[queue]
dir = %q
max_bytes = "2GiB"
[local]
socket = %q
[log]
level = "info"
`, port, l.pki.CAFile, l.pki.DeviceCertFile, l.pki.DeviceKeyFile, l.ntp.Addr, filepath.Join(s.dir, "clock"), s.queue, s.socket)
	return s, os.WriteFile(s.config, []byte(doc), 0o600)
}

// repoint writes the same config with another broker port (the queue stays).
func (s *thingdSetup) repoint(port int) error {
	data, err := os.ReadFile(s.config)
	if err != nil {
		return err
	}
	lines := strings.Split(string(data), "\n")
	for i, line := range lines {
		if strings.HasPrefix(line, "port = ") {
			lines[i] = fmt.Sprintf("port = %d", port)
		}
	}
	return os.WriteFile(s.config, []byte(strings.Join(lines, "\n")), 0o600)
}

// daemon is a running `thingd run`.
type daemon struct {
	*testbed.Process
	setup   *thingdSetup
	started time.Time
	ready   time.Duration // exec to READY=1
	notify  *notifyListener
}

// startThingd execs `thingd run` (through setpriv, without CAP_SYS_TIME) and returns once
// it sent READY=1.
func (l *lab) startThingd(s *thingdSetup) (*daemon, error) {
	n, err := listenNotify(filepath.Join(s.dir, fmt.Sprintf("notify-%d.sock", time.Now().UnixNano())))
	if err != nil {
		return nil, err
	}
	l.onClose(n.close)
	argv := []string{l.thingd, "run", "--config", s.config}
	if l.profileDir != "" {
		self, err := os.Executable()
		if err != nil {
			n.close()
			return nil, err
		}
		k := filepath.Base(s.dir) + fmt.Sprintf("-%d", time.Now().UnixNano())
		argv = []string{self, "daemon", "--config", s.config,
			"--cpuprofile", filepath.Join(l.profileDir, "cpu-"+k+".pprof"), "--memprofile", filepath.Join(l.profileDir, "allocs-"+k+".pprof")}
	}
	env := append([]string{"NOTIFY_SOCKET=" + n.path}, s.env...)
	cmd, err := l.ps.command(env, argv...)
	if err != nil {
		n.close()
		return nil, err
	}
	f, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		n.close()
		return nil, err
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	started := time.Now()
	p, err := l.ps.startCmd("thingd", cmd)
	if err != nil {
		n.close()
		return nil, err
	}
	d := &daemon{Process: p, setup: s, started: started, notify: n}
	at, err := n.waitFor(l.ctx, "READY=1", 120*time.Second, p.Done())
	if err != nil {
		d.Kill()
		return nil, fmt.Errorf("%w (log %s)", err, s.log)
	}
	d.ready = at.Sub(started)
	return d, nil
}

// stopGracefully sends SIGTERM and expects exit code 0.
func (d *daemon) stopGracefully() error {
	_ = d.Stop(60 * time.Second) // a thingd that had to be killed exits -1: reported below
	d.notify.close()
	if code := d.ExitCode(); code != 0 {
		return fmt.Errorf("thingd exited %d after SIGTERM (log %s)", code, d.setup.log)
	}
	return nil
}

// kill9 is SIGKILL, as a power cut would do to the process.
func (d *daemon) kill9() {
	d.Kill()
	d.notify.close()
}

// pub runs `thingd pub --lines` with stdin and returns how long it took; an error carries
// its exit code and standard error.
func (l *lab) pub(ctx context.Context, socket, topic string, stdin io.Reader) (time.Duration, error) {
	return l.runPub(ctx, stdin, "--socket", socket, "--topic", topic, "--lines")
}

// pubMessage is `thingd pub --message`: one message, one fsync.
func (l *lab) pubMessage(ctx context.Context, socket, topic string, payload []byte) error {
	_, err := l.runPub(ctx, nil, "--socket", socket, "--topic", topic, "--message", string(payload))
	return err
}

func (l *lab) runPub(ctx context.Context, stdin io.Reader, args ...string) (time.Duration, error) {
	cmd, err := l.ps.commandContext(ctx, nil, append([]string{l.thingd, "pub"}, args...)...)
	if err != nil {
		return 0, err
	}
	cmd.Stdin = stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err = cmd.Run()
	took := time.Since(start)
	if err != nil {
		return took, fmt.Errorf("thingd pub %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return took, nil
}

// payloadLine is message n of a benchmark: its number, then padding to size bytes, so the
// subscriber can tell every message apart.
func payloadLine(n, size int) []byte {
	b := fmt.Appendf(nil, "%09d ", n)
	for len(b) < size {
		b = append(b, 'x')
	}
	return b[:size]
}

// writeLines writes messages from..to-1 as lines into a file, the stdin of pub and
// mosquitto_pub.
func writeLines(path string, from, to, size int) error {
	var b bytes.Buffer
	b.Grow((to - from) * (size + 1))
	for n := from; n < to; n++ {
		b.Write(payloadLine(n, size))
		b.WriteByte('\n')
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}
