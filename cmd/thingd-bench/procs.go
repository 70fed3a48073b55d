package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"thingd/internal/testbed"
)

// proc is one process the lab started. setpriv execs the program, so the PID is the
// program's own and /proc/<pid> describes it.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // Wait's result, valid once done is closed
}

// procs remembers every process started, so that every exit path stops them by PID.
type procs struct {
	setpriv string
	mu      sync.Mutex
	all     []*proc
}

func newProcs() (*procs, error) {
	p, err := testbed.Tool("setpriv", "util-linux")
	if err != nil {
		return nil, err
	}
	return &procs{setpriv: p}, nil
}

// command returns argv wrapped in setpriv without CAP_SYS_TIME, not started.
func (ps *procs) command(env []string, argv ...string) *exec.Cmd {
	return ps.commandContext(context.Background(), env, argv...)
}

// commandContext is command for a short-lived tool that ctx kills (by its PID).
func (ps *procs) commandContext(ctx context.Context, env []string, argv ...string) *exec.Cmd {
	// Without CAP_SYS_TIME: nothing the benchmarks start can ever set this machine's clock.
	cmd := exec.CommandContext(ctx, ps.setpriv, testbed.SetprivArgs(argv[0], argv[1:]...)...)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// startCmd starts a prepared command and tracks it.
func (ps *procs) startCmd(name string, cmd *exec.Cmd) (*proc, error) {
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, strings.Join(cmd.Args, " "), err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	ps.mu.Lock()
	ps.all = append(ps.all, p)
	ps.mu.Unlock()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitCode is the exit status once the process ended; -1 for a signal.
func (p *proc) exitCode() int {
	<-p.done
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		return -1
	}
	return 0
}

// stop sends SIGTERM, and SIGKILL after grace; it returns once the process is reaped.
func (p *proc) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// kill sends SIGKILL and waits until the process is reaped.
func (p *proc) kill() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// stopAll stops everything still running, newest first (clients before their servers).
func (ps *procs) stopAll() {
	ps.mu.Lock()
	all := append([]*proc(nil), ps.all...)
	ps.all = nil
	ps.mu.Unlock()
	for i := len(all) - 1; i >= 0; i-- {
		all[i].stop(5 * time.Second)
	}
}
