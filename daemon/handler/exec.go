package handler

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// Defaults for ExecOptions fields left zero.
const (
	DefaultTimeout       = 30 * time.Second // also [[subscribe]] timeout's default (config uses this)
	DefaultMaxConcurrent = 4
	DefaultOutputLimit   = 4096
)

// waitDelay bounds how long Wait keeps reading output after the program exited (or was killed)
// while a descendant that escaped the process group still holds the pipes open.
const waitDelay = 2 * time.Second

// ErrTimeout is wrapped by the error of a run that outlived ExecOptions.Timeout.
var ErrTimeout = errors.New("handler timed out")

// errShutdown is the cause given to runs killed because Close's deadline passed.
var errShutdown = errors.New("thingd is shutting down and the handler did not finish in time")

// ExecOptions tune an Exec handler; zero fields take the defaults above.
type ExecOptions struct {
	// Timeout bounds one run, from start to exit. When it passes, the program and everything it
	// started in its process group are killed (SIGKILL).
	Timeout time.Duration
	// MaxConcurrent is how many runs may be in progress at once; Accept blocks while all are busy.
	MaxConcurrent int
	// OutputLimit is how many bytes of standard output, and separately of standard error, are
	// kept for the log; the end of the output is kept.
	OutputLimit int
	// Env is added to every run's environment (after thingd's own and THINGD_TOPIC).
	Env    []string
	Logger *zap.Logger
}

// Exec runs a program for every message: argv exactly as configured (no shell, so ";" or "$(...)"
// in an argument is just text), the payload on standard input, THINGD_TOPIC set to the message's
// topic on top of thingd's own environment. Each run is its own process group, so a timeout kills
// what the program started too. The exit status and the captured output are logged; a non-zero
// exit, a timeout or a kill is logged at warn.
type Exec struct {
	argv []string
	opt  ExecOptions
	log  *zap.Logger
	sem  chan struct{}

	// base is the parent of every run's context; Close cancels it to kill runs that overstay.
	base    context.Context
	killAll context.CancelCauseFunc

	mu      sync.Mutex
	closed  bool
	closing chan struct{} // closed by Close, wakes Accepts waiting for a slot
	wg      sync.WaitGroup
}

// NewExec checks argv and the options. It does not look the program up: a script may be
// installed after thingd starts, and a missing one is reported by each Accept.
func NewExec(argv []string, o ExecOptions) (*Exec, error) {
	if len(argv) == 0 || argv[0] == "" {
		return nil, errors.New("exec handler: empty argv; set exec = [\"/path/to/program\", \"arg\", ...] in [[subscribe]]")
	}
	if o.Timeout < 0 || o.MaxConcurrent < 0 || o.OutputLimit < 0 {
		return nil, fmt.Errorf("exec handler %s: timeout %s, max concurrent %d and output limit %d must not be negative",
			argv[0], o.Timeout, o.MaxConcurrent, o.OutputLimit)
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxConcurrent == 0 {
		o.MaxConcurrent = DefaultMaxConcurrent
	}
	if o.OutputLimit == 0 {
		o.OutputLimit = DefaultOutputLimit
	}
	log := o.Logger
	if log == nil {
		log = zap.NewNop()
	}
	base, killAll := context.WithCancelCause(context.Background())
	return &Exec{
		argv:    append([]string(nil), argv...),
		opt:     o,
		log:     log.With(zap.String("component", "handler"), zap.Strings("argv", argv)),
		sem:     make(chan struct{}, o.MaxConcurrent),
		base:    base,
		killAll: killAll,
		closing: make(chan struct{}),
	}, nil
}

// Accept starts the program and returns once it holds the whole payload: started, payload
// written to its standard input, standard input closed. The program then runs on in the
// background; its exit is logged, and Close waits for it.
//
// Accept blocks while MaxConcurrent runs are in progress, until a slot frees or ctx ends. If ctx
// ends while the payload is being written, the program is killed and Accept returns ctx's error:
// the program never saw the whole message. A program that exits or closes its standard input
// without reading everything has still accepted the message (it ran and chose), which is logged.
func (e *Exec) Accept(ctx context.Context, topic string, payload []byte) error {
	_, err := e.start(ctx, topic, payload)
	return err
}

// Handle is Accept followed by waiting for the program to exit. It returns nil for exit status
// 0, an error wrapping *exec.ExitError for another status, and one wrapping ErrTimeout when the
// run was killed at its timeout. If ctx ends before the program exits, the program is killed.
func (e *Exec) Handle(ctx context.Context, topic string, payload []byte) error {
	r, err := e.start(ctx, topic, payload)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() {
		r.cancel(fmt.Errorf("the caller stopped waiting: %w", context.Cause(ctx)))
	})
	defer stop()
	<-r.done
	return r.err
}

// Close stops new runs and waits for running ones. If ctx ends first, it kills them (with their
// process groups), waits until they are reaped, and returns ctx's error.
func (e *Exec) Close(ctx context.Context) error {
	e.mu.Lock()
	if !e.closed {
		e.closed = true
		close(e.closing)
	}
	e.mu.Unlock()

	done := make(chan struct{})
	go func() {
		e.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		e.killAll(nil)
		return nil
	case <-ctx.Done():
		e.killAll(errShutdown)
		<-done
		return fmt.Errorf("exec handler %s: killed runs still going when the shutdown deadline passed: %w", e.argv[0], ctx.Err())
	}
}

// acquire takes an execution slot and registers the run with Close's WaitGroup.
func (e *Exec) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case e.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-e.closing:
		return ErrClosed
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		<-e.sem
		return ErrClosed
	}
	e.wg.Add(1)
	return nil
}

func (e *Exec) release() {
	<-e.sem
	e.wg.Done()
}

// start runs the program and feeds it the payload; the returned run finishes in the background.
func (e *Exec) start(ctx context.Context, topic string, payload []byte) (*run, error) {
	if err := e.acquire(ctx); err != nil {
		return nil, err
	}
	r := e.newRun(topic)
	stdin, err := r.cmd.StdinPipe()
	if err == nil {
		err = r.cmd.Start()
	}
	if err != nil {
		r.stopTimer()
		r.cancel(nil)
		e.release()
		return nil, fmt.Errorf("exec handler for topic %q: start %s: %w (check exec in [[subscribe]]: the program must exist and be executable by the thingd user)",
			topic, e.argv[0], err)
	}
	r.started = time.Now()
	go r.wait()

	stop := context.AfterFunc(ctx, func() {
		r.cancel(fmt.Errorf("the message was given up before the handler took it: %w", context.Cause(ctx)))
	})
	_, werr := stdin.Write(payload)
	if cerr := stdin.Close(); werr == nil && !errors.Is(cerr, os.ErrClosed) {
		werr = cerr
	}
	if !stop() {
		return nil, fmt.Errorf("exec handler %s for topic %q: killed while writing the payload: %w", e.argv[0], topic, ctx.Err())
	}
	if werr != nil {
		if cause := r.killed(); cause != nil {
			return nil, fmt.Errorf("exec handler %s for topic %q: killed before it read the payload: %w", e.argv[0], topic, cause)
		}
		if !errors.Is(werr, syscall.EPIPE) && !errors.Is(werr, os.ErrClosed) {
			r.cancel(werr)
			return nil, fmt.Errorf("exec handler %s for topic %q: write the payload to its standard input: %w", e.argv[0], topic, werr)
		}
		r.log.Warn("handler did not read its whole payload", zap.Int("payload_bytes", len(payload)))
	}
	return r, nil
}
