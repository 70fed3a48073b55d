package handler

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// errExited is the cause wait gives the run's context once the process is reaped, telling a
// normal end apart from a kill (the first cause given to a context is the one that stays).
var errExited = errors.New("handler exited")

// killed reports why the run's process was killed, or nil if it was not.
func (r *run) killed() error {
	if cause := context.Cause(r.ctx); cause != nil && cause != errExited {
		return cause
	}
	return nil
}

// run is one execution of an Exec's program for one message.
type run struct {
	e       *Exec
	topic   string
	cmd     *exec.Cmd
	log     *zap.Logger
	started time.Time

	ctx       context.Context         // ends at the timeout, on cancel, or when Close kills all
	cancel    context.CancelCauseFunc // kills the process group, recording why
	stopTimer context.CancelFunc

	stdout, stderr *tailBuffer

	done chan struct{} // closed once the process is reaped; err is set before
	err  error
}

func (e *Exec) newRun(topic string) *run {
	killable, cancel := context.WithCancelCause(e.base)
	ctx, stopTimer := context.WithTimeoutCause(killable, e.opt.Timeout, ErrTimeout)
	r := &run{
		e:         e,
		topic:     topic,
		log:       e.log.With(zap.String("topic", topic)),
		ctx:       ctx,
		cancel:    cancel,
		stopTimer: stopTimer,
		stdout:    newTailBuffer(e.opt.OutputLimit),
		stderr:    newTailBuffer(e.opt.OutputLimit),
		done:      make(chan struct{}),
	}
	cmd := exec.CommandContext(ctx, e.argv[0], e.argv[1:]...)
	cmd.Env = append(append(childEnv(os.Environ()), "THINGD_TOPIC="+topic), e.opt.Env...)
	cmd.Stdout = r.stdout
	cmd.Stderr = r.stderr
	// Its own process group, so that a kill reaches whatever a shell script started as well.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
	cmd.WaitDelay = waitDelay
	r.cmd = cmd
	return r
}

// wait reaps the process, logs how it ended and frees the slot.
func (r *run) wait() {
	err := r.cmd.Wait()
	// A clean exit wins over a kill that came too late to matter.
	var killedBy error
	if err != nil {
		killedBy = r.killed()
	}
	r.cancel(errExited) // before stopTimer, whose cause would be a bare context.Canceled
	r.stopTimer()
	r.err = r.report(err, killedBy)
	// Free the slot before waking Handle, so that back-to-back Handle calls never wait for one.
	r.e.release()
	close(r.done)
}

// report logs the end of a run and returns the error Handle gives its caller.
func (r *run) report(err, killedBy error) error {
	fields := []zap.Field{
		zap.Int("pid", r.cmd.Process.Pid),
		zap.Duration("duration", time.Since(r.started)),
		zap.Int("exit_code", r.cmd.ProcessState.ExitCode()),
		zap.String("stdout", r.stdout.String()),
		zap.String("stderr", r.stderr.String()),
	}
	if n := r.stdout.dropped(); n > 0 {
		fields = append(fields, zap.Int64("stdout_dropped_bytes", n))
	}
	if n := r.stderr.dropped(); n > 0 {
		fields = append(fields, zap.Int64("stderr_dropped_bytes", n))
	}
	if ws, ok := r.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		fields = append(fields, zap.String("signal", ws.Signal().String()))
	}
	argv0 := r.e.argv[0]

	switch {
	case errors.Is(killedBy, ErrTimeout):
		r.log.Warn("handler timed out; killed it and its process group", append(fields, zap.Duration("timeout", r.e.opt.Timeout))...)
		return fmt.Errorf("exec handler %s for topic %q ran longer than its %s timeout and was killed with its process group (make it finish sooner or raise the timeout): %w",
			argv0, r.topic, r.e.opt.Timeout, ErrTimeout)
	case killedBy != nil:
		r.log.Warn("handler killed", append(fields, zap.NamedError("reason", killedBy))...)
		return fmt.Errorf("exec handler %s for topic %q was killed: %w", argv0, r.topic, killedBy)
	case err == nil:
		r.log.Info("handler finished", fields...)
		return nil
	case errors.Is(err, exec.ErrWaitDelay):
		// The program exited 0, but something it left behind kept its output open.
		r.log.Warn("handler exited but left a process holding its output open; output was cut off", fields...)
		return nil
	default:
		r.log.Warn("handler failed", append(fields, zap.Error(err))...)
		return fmt.Errorf("exec handler %s for topic %q: %w", argv0, r.topic, err)
	}
}

// childEnv is thingd's environment minus what systemd meant for thingd alone: a handler
// must not inherit the notify socket or the watchdog settings of its parent.
func childEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES":
			continue
		}
		out = append(out, kv)
	}
	return out
}
