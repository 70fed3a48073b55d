package pubsub

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"thingd/daemon/session"
)

// TLSFunc builds the client TLS configuration from the sample's files. cmd/thingd passes the
// tls package's loader, whose errors name a missing or unreadable file and the fix.
type TLSFunc func(ca, cert, key, endpoint string, port int) (*tls.Config, error)

// stepTimeout bounds each wait (connect and subscribe, each PUBACK, all messages back), as
// the sample's TIMEOUT = 100 does.
const stepTimeout = 100 * time.Second

// PubSub runs `thingd pubsub args...` and returns the exit code: 0 when every message came
// back, 1 on a runtime failure (files, connection, timeout, interrupt), 2 on a usage error.
func PubSub(ctx context.Context, args []string, stdout, stderr io.Writer, tlsFor TLSFunc) int {
	stdout, stderr = &lockedWriter{w: stdout}, &lockedWriter{w: stderr}
	c, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "thingd pubsub: %s\n", strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
		return 2
	}
	cfg, err := tlsFor(c.ca, c.cert, c.key, c.endpoint, c.port)
	if err != nil {
		fmt.Fprintf(stderr, "thingd pubsub: %v\n", err)
		return 1
	}
	r := &runner{c: c, out: stdout, errOut: stderr, allIn: make(chan struct{})}
	return r.run(ctx, cfg)
}

type runner struct {
	c        config
	out      io.Writer
	errOut   io.Writer
	received atomic.Int64
	allIn    chan struct{} // closed when count messages came back
}

func (r *runner) run(ctx context.Context, cfg *tls.Config) int {
	c := r.c
	events := make(chan session.Event, 64)
	s, err := session.New(session.Options{
		Endpoint:     c.endpoint,
		Port:         c.port,
		ClientID:     c.clientID,
		CleanSession: true, // the sample's default clean start
		Proxy:        c.proxy,
		TLSConfig:    func() (*tls.Config, error) { return cfg, nil },
		Logger:       r.logger(),
		OnEvent: func(e session.Event) {
			select {
			case events <- e:
			default: // the printer is behind; status lines are not worth blocking the session
			}
		},
	}, []session.Subscription{{Filter: c.topic, QoS: 1, Handle: r.handle}})
	if err != nil {
		fmt.Fprintf(r.errOut, "thingd pubsub: %v\n", err)
		return 2
	}

	fmt.Fprintf(r.out, "Connecting to %s with client ID '%s'...\n", c.endpoint, c.clientID)
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		_ = s.Run(runCtx) // returns nil once stopped
	}()
	subscribed := make(chan struct{}, 1)
	printed := make(chan struct{})
	go func() {
		defer close(printed)
		r.printEvents(events, subscribed)
	}()
	defer func() {
		fmt.Fprintln(r.out, "Stopping Client")
		stop()
		<-ran
		close(events) // Run has returned: no more OnEvent calls
		<-printed
		fmt.Fprintln(r.out, "Client Stopped!")
	}()

	if err := r.wait(ctx, subscribed, "connected and subscribed"); err != nil {
		fmt.Fprintf(r.errOut, "thingd pubsub: %v (last error: %s)\n", err, orNone(s.State().LastError))
		return 1
	}
	if c.message != "" {
		if err := r.publishAll(ctx, s); err != nil {
			if c.count == 0 && ctx.Err() != nil {
				return 0 // "until program killed": an interrupt is the normal end
			}
			fmt.Fprintf(r.errOut, "thingd pubsub: %v\n", err)
			return 1
		}
	}
	if c.count == 0 {
		<-ctx.Done()
		return 0
	}
	err = r.wait(ctx, r.allIn, fmt.Sprintf("all %d messages to come back", c.count))
	fmt.Fprintf(r.out, "%d message(s) received.\n", r.received.Load())
	if err != nil {
		fmt.Fprintf(r.errOut, "thingd pubsub: %v\n", err)
		return 1
	}
	return 0
}

// publishAll sends "<message> <n>" for n = 1..count, one a second, each waiting for its PUBACK.
func (r *runner) publishAll(ctx context.Context, s *session.Session) error {
	c := r.c
	if c.count == 0 {
		fmt.Fprintln(r.out, "Sending messages until program killed")
	} else {
		fmt.Fprintf(r.out, "Sending %d message(s)\n", c.count)
	}
	for n := 1; c.count == 0 || n <= c.count; n++ {
		if n > 1 {
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		msg := fmt.Sprintf("%s %d", c.message, n)
		fmt.Fprintf(r.out, "Publishing message to topic '%s': %s\n", c.topic, msg)
		if err := r.publish(ctx, s, msg); err != nil {
			return fmt.Errorf("publish %q to %s: %w", msg, c.topic, err)
		}
		fmt.Fprintln(r.out, "PubAck received")
	}
	return nil
}

// publish sends one QoS1 message, waiting out a reconnect, and waits for its PUBACK.
func (r *runner) publish(ctx context.Context, s *session.Session, msg string) error {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	for {
		d, err := s.Publish(ctx, r.c.topic, 1, []byte(msg))
		if errors.Is(err, session.ErrNotConnected) {
			select {
			case <-time.After(100 * time.Millisecond):
				continue
			case <-ctx.Done():
				return fmt.Errorf("not connected: %w", ctx.Err())
			}
		}
		if err != nil {
			return err
		}
		if err := d.Wait(ctx); err != nil {
			return fmt.Errorf("no PUBACK: %w", err)
		}
		return nil
	}
}

func (r *runner) handle(_ context.Context, topic string, payload []byte) error {
	fmt.Fprintf(r.out, "Received message from topic '%s': %s\n", topic, payload)
	if r.received.Add(1) == int64(r.c.count) {
		close(r.allIn)
	}
	return nil
}

// printEvents prints the connection's life like the sample's lifecycle callbacks.
func (r *runner) printEvents(events <-chan session.Event, subscribed chan<- struct{}) {
	for e := range events {
		switch e.Kind {
		case session.EventConnected:
			fmt.Fprintf(r.out, "Connected to endpoint:'%s' with Client ID:'%s'\n", r.c.endpoint, r.c.clientID)
			fmt.Fprintf(r.out, "Subscribing to topic '%s'...\n", r.c.topic)
		case session.EventSubscribed:
			fmt.Fprintf(r.out, "Subscribed to topic '%s' with QoS 1\n", r.c.topic)
			select {
			case subscribed <- struct{}{}:
			default:
			}
		case session.EventConnectFailed:
			fmt.Fprintf(r.errOut, "Connection failed with exception: %v\n", e.Err)
		case session.EventDisconnected:
			if e.Err != nil {
				fmt.Fprintf(r.errOut, "Connection lost: %v\n", e.Err)
			}
		}
	}
}

func (r *runner) wait(ctx context.Context, ch <-chan struct{}, what string) error {
	t := time.NewTimer(stepTimeout)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("interrupted while waiting for %s", what)
	case <-t.C:
		return fmt.Errorf("waited %v for %s", stepTimeout, what)
	}
}

func (r *runner) logger() *zap.Logger {
	if r.c.quiet {
		return zap.NewNop()
	}
	enc := zap.NewDevelopmentEncoderConfig()
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(r.errOut), r.c.level)
	return zap.New(core)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// lockedWriter serializes writes: the session's worker prints received messages while the
// main flow prints its own lines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
