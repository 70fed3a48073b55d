package handler

import (
	"context"
	"fmt"
	"syscall"
)

// Result is how one run ended, for a caller that reports it further (a job's statusDetails).
type Result struct {
	ExitCode int    // -1 when killed by a signal or never started
	Signal   string // the signal that ended it, if any
	Stdout   string // the last OutputLimit bytes
	Stderr   string
}

// Run is Handle that also returns the run's exit status and the tail of its output. The
// error is Handle's: nil for exit status 0, wrapping ErrTimeout after a timeout.
func (e *Exec) Run(ctx context.Context, topic string, payload []byte) (Result, error) {
	r, err := e.start(ctx, topic, payload)
	if err != nil {
		return Result{ExitCode: -1}, err
	}
	stop := context.AfterFunc(ctx, func() {
		r.cancel(fmt.Errorf("the caller stopped waiting: %w", context.Cause(ctx)))
	})
	defer stop()
	<-r.done
	res := Result{ExitCode: r.cmd.ProcessState.ExitCode(), Stdout: r.stdout.String(), Stderr: r.stderr.String()}
	if ws, ok := r.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		res.Signal = ws.Signal().String()
	}
	return res, r.err
}
