package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"thingd/internal/testbed"
)

// daemon is a running `thingd run`, its output streamed to the printer.
type daemon struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once reaped and its output fully read
	err  error
}

// startThingd runs `bin run --config cfg` in its own process group, so that a Ctrl-C in the
// terminal reaches only the demo, which then stops thingd with one SIGTERM, as systemd would.
func startThingd(bin, cfg string, out *printer) (*daemon, error) {
	argv := []string{bin, "run", "--config", cfg}
	if setpriv, ok := clockDropper(); ok {
		// Without CAP_SYS_TIME: thingd and all it executes can never set this machine's clock.
		argv = append([]string{setpriv}, testbed.SetprivArgs(argv[0], argv[1:]...)...)
		out.printf(srcDemo, "thingd runs without CAP_SYS_TIME (setpriv) and with clock.step = \"never\"")
	} else {
		out.printf(srcDemo, "thingd runs with clock.step = \"never\" and as a user that may not set the clock")
	}
	out.printf(srcDemo, "$ thingd run --config %s", cfg)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = childEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("pipe for thingd's log: %w", err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("start %s: %w (build it with `make build`, or pass --thingd)", bin, err)
	}
	w.Close() // the child holds its own end; EOF comes when it exits
	d := &daemon{cmd: cmd, done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			out.printf(srcThingd, "%s", dropTimestamp(sc.Text()))
		}
		r.Close()
		d.err = cmd.Wait()
		close(d.done)
	}()
	return d, nil
}

// clockDropper finds setpriv when it can drop capabilities, which takes root; anyone else has
// no CAP_SYS_TIME to drop.
func clockDropper() (string, bool) {
	if os.Geteuid() != 0 {
		return "", false
	}
	p, err := testbed.LookPath("setpriv")
	return p, err == nil
}

// childEnv keeps the demo's environment minus what would make thingd talk to a real systemd
// or read another config.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM", "THINGD_CONFIG":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// dropTimestamp removes thingd's own leading timestamp: the demo stamps every line already.
func dropTimestamp(line string) string {
	first, rest, ok := strings.Cut(line, "\t")
	if ok && len(first) >= 19 && first[4] == '-' && first[10] == 'T' {
		return rest
	}
	return line
}

// stop sends SIGTERM and waits for thingd to flush and exit; after timeout it is killed.
func (d *daemon) stop(timeout time.Duration) error {
	select {
	case <-d.done:
		return d.err
	default:
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal thingd (pid %d): %w", d.cmd.Process.Pid, err)
	}
	select {
	case <-d.done:
		return d.err
	case <-time.After(timeout):
	}
	_ = d.cmd.Process.Kill()
	<-d.done
	return fmt.Errorf("thingd (pid %d) did not stop within %v of SIGTERM and was killed", d.cmd.Process.Pid, timeout)
}

// pubHello queues one message through the daemon's socket with `thingd pub`, the way a program
// on the device would, once the socket is there.
func pubHello(ctx context.Context, bin, socket string, out *printer) {
	for {
		if _, err := os.Stat(socket); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	thingdPub(ctx, bin, socket, "dt/{thing}/hello", "hello from a local producer", out)
	// Basic Ingest: the same message straight to a rule, cheaper than a topic on AWS.
	thingdPub(ctx, bin, socket, "$aws/rules/"+ingestRule+"/dt/{thing}/hello", "hello to a rule", out)
}

// thingdPub runs one `thingd pub` and prints what it said.
func thingdPub(ctx context.Context, bin, socket, topic, message string, out *printer) {
	args := []string{"pub", "--socket", socket, "--topic", topic, "--message", message}
	out.printf(srcProducer, "$ thingd %s", strings.Join(quoteArgs(args), " "))
	var res []byte
	var err error
	// The socket file appears a moment before thingd accepts on it: retry a refused first try.
	for try := 0; try < 3 && ctx.Err() == nil; try++ {
		if res, err = exec.CommandContext(ctx, bin, args...).CombinedOutput(); err == nil {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if msg := strings.TrimSpace(string(res)); msg != "" {
		out.printf(srcProducer, "%s", msg)
	}
	if err != nil {
		out.printf(srcProducer, "thingd pub failed: %v", err)
		return
	}
	out.printf(srcProducer, "exit 0: the message is on disk in thingd's queue")
}

func quoteArgs(args []string) []string {
	q := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " {}\"'") {
			a = "'" + a + "'"
		}
		q[i] = a
	}
	return q
}
