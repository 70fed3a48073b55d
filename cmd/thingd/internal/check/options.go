package check

import (
	"context"
	"crypto/x509"
	"errors"
	"io/fs"
	"net"
	"time"

	"github.com/beevik/ntp"

	"thingd/clock"
	"thingd/daemon/config"
)

// Options injects the outside world; nil fields and zero durations mean the real thing
// and the defaults noted on each field.
type Options struct {
	// Now reads the system clock; nil = time.Now.
	Now func() time.Time
	// QueryNTP asks one NTP server at "host:port"; nil = beevik/ntp. Answers are
	// validated by the step, so a fake goes through the same checks as a real server.
	QueryNTP func(ctx context.Context, addr string) (*ntp.Response, error)
	// LookupHost resolves a host name; nil = net.DefaultResolver.
	LookupHost func(ctx context.Context, host string) ([]string, error)
	// Dial opens TCP connections (to the broker, or to mqtt.proxy); nil = net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// SystemPool looks up the system trust store; nil = x509.SystemCertPool.
	SystemPool func() (*x509.CertPool, error)
	// DaemonRunning reports whether a thingd already runs with this config, in which
	// case the MQTT steps are skipped rather than take over its client ID; nil = its
	// local socket accepts a connection.
	DaemonRunning func(cfg *config.Config) bool
	// Timeout bounds each network step: one NTP query, DNS, TCP, one TLS handshake,
	// CONNECT; default 5s.
	Timeout time.Duration
	// RoundTrip bounds subscribe + publish + receive; default 10s.
	RoundTrip time.Duration
	// Settle is how long the TLS step waits after the handshake for a TLS 1.3 refusal of
	// the device certificate; default 1s.
	Settle time.Duration
}

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.QueryNTP == nil {
		o.QueryNTP = clock.QueryNTP
	}
	if o.LookupHost == nil {
		o.LookupHost = net.DefaultResolver.LookupHost
	}
	if o.Dial == nil {
		d := &net.Dialer{}
		o.Dial = d.DialContext
	}
	if o.SystemPool == nil {
		o.SystemPool = x509.SystemCertPool
	}
	if o.DaemonRunning == nil {
		o.DaemonRunning = daemonRunning
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.RoundTrip <= 0 {
		o.RoundTrip = 10 * time.Second
	}
	if o.Settle <= 0 {
		o.Settle = time.Second
	}
	return o
}

// daemonRunning: a socket that refuses us for lack of permission still means a daemon
// owns it.
func daemonRunning(cfg *config.Config) bool {
	if cfg.Local.Socket == "" {
		return false
	}
	conn, err := net.DialTimeout("unix", cfg.Local.Socket, 500*time.Millisecond)
	if err != nil {
		return errors.Is(err, fs.ErrPermission)
	}
	conn.Close()
	return true
}
