package session

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// dialer opens the TLS connection for one attempt: TCP (directly or through the proxy), then
// TLS with a configuration fetched fresh from Options.TLSConfig.
type dialer struct {
	addr    string // endpoint:port
	host    string
	port    int
	proxy   *url.URL
	tlsConf func() (*tls.Config, error)
	explain func(error) error
	net     *net.Dialer
}

func newDialer(o Options) *dialer {
	d := &dialer{
		addr:    net.JoinHostPort(o.Endpoint, strconv.Itoa(o.Port)),
		host:    o.Endpoint,
		port:    o.Port,
		tlsConf: o.TLSConfig,
		explain: o.ExplainErr,
		net:     &net.Dialer{KeepAlive: 30 * time.Second},
	}
	if o.Proxy != "" {
		d.proxy, _ = parseProxy(o.Proxy) // validated in New
	}
	if d.explain == nil {
		d.explain = func(err error) error { return err }
	}
	return d
}

func (d *dialer) dial(ctx context.Context) (net.Conn, error) {
	cfg, err := d.tlsConf()
	if err != nil {
		return nil, &TLSError{Op: "tls config", Addr: d.addr, Err: d.explain(err)}
	}
	if cfg == nil {
		return nil, &TLSError{Op: "tls config", Addr: d.addr, Err: fmt.Errorf("TLSConfig returned no configuration")}
	}
	cfg = cfg.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = d.host
	}
	if d.port == alpnPort && len(cfg.NextProtos) == 0 {
		// AWS IoT serves MQTT on 443 only to clients that ask for it by ALPN.
		cfg.NextProtos = []string{alpnAWS}
	}

	var raw net.Conn
	if d.proxy != nil {
		raw, err = DialProxy(ctx, d.net.DialContext, d.proxy, d.addr)
	} else {
		raw, err = d.net.DialContext(ctx, "tcp", d.addr)
	}
	if err != nil {
		return nil, err
	}
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, &TLSError{Op: "tls handshake", Addr: d.addr, Err: d.explain(err)}
	}
	return tc, nil
}

// openConnFn adapts dial to paho's CustomOpenConnectionFn. paho gives no context, so the
// attempt's context comes from the session (cancelled when Run ends) and the timeout from
// Options.ConnectTimeout.
func (s *Session) openConnFn(_ *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
	s.attempts.Add(1)
	ctx, cancel := context.WithTimeout(s.attemptCtx(), s.o.ConnectTimeout)
	defer cancel()
	conn, err := s.dial(ctx)
	s.noteDial(conn, err)
	return conn, err
}
