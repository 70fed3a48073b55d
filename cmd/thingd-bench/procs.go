package main

import (
	"context"
	"os/exec"
	"sync"
	"time"

	"thingd/internal/testbed"
)

// procs remembers every process the lab started itself (thingd, the tools), so that every
// exit path stops them by PID. The testbed runs them without CAP_SYS_TIME.
type procs struct {
	mu  sync.Mutex
	all []*testbed.Process
}

// command returns argv without CAP_SYS_TIME, not started: nothing the benchmarks start can
// ever set this machine's clock.
func (ps *procs) command(env []string, argv ...string) (*exec.Cmd, error) {
	return testbed.ClockSafeCommand(context.Background(), env, argv...)
}

// commandContext is command for a short-lived tool that ctx kills (by its PID).
func (ps *procs) commandContext(ctx context.Context, env []string, argv ...string) (*exec.Cmd, error) {
	return testbed.ClockSafeCommand(ctx, env, argv...)
}

// startCmd starts a prepared command and tracks it.
func (ps *procs) startCmd(name string, cmd *exec.Cmd) (*testbed.Process, error) {
	p, err := testbed.StartProcess(name, cmd)
	if err != nil {
		return nil, err
	}
	ps.mu.Lock()
	ps.all = append(ps.all, p)
	ps.mu.Unlock()
	return p, nil
}

// stopAll stops everything still running, newest first (clients before their servers).
func (ps *procs) stopAll() {
	ps.mu.Lock()
	all := append([]*testbed.Process(nil), ps.all...)
	ps.all = nil
	ps.mu.Unlock()
	for i := len(all) - 1; i >= 0; i-- {
		_ = all[i].Stop(5 * time.Second)
	}
}
