package session

import (
	"errors"
	"fmt"
)

// Errors a caller can test with errors.Is.
var (
	// ErrNotConnected: Publish was called while no connection is up. Nothing was sent; the
	// caller keeps the message and tries again after the next EventConnected.
	ErrNotConnected = errors.New("mqtt: not connected")
	// ErrClosed: Run has ended (or never started a connection loop). Pending deliveries fail
	// with it; their messages may or may not have reached the broker.
	ErrClosed = errors.New("mqtt: session closed")
	// ErrSessionLost: with CleanSession=true the connection dropped before the PUBACK, and the
	// new session starts empty; the message may or may not have reached the broker.
	ErrSessionLost = errors.New("mqtt: session lost before PUBACK (clean session)")
)

// TLSError is a failure to build the TLS configuration or to complete the TLS handshake.
// Err has been through Options.ExplainErr when one was given.
type TLSError struct {
	Op   string // "tls config" or "tls handshake"
	Addr string // broker host:port
	Err  error
}

func (e *TLSError) Error() string {
	if e.Op == "tls config" {
		return fmt.Sprintf("prepare TLS for %s: %v", e.Addr, e.Err)
	}
	return fmt.Sprintf("TLS handshake with %s: %v", e.Addr, e.Err)
}

func (e *TLSError) Unwrap() error { return e.Err }

// ProxyError is a failure to reach the HTTP proxy or to have it open the tunnel.
type ProxyError struct {
	Proxy  string // proxy host:port
	Target string // broker host:port
	Status int    // the proxy's HTTP answer to CONNECT; 0 when there was none
	Err    error
}

func (e *ProxyError) Error() string {
	return fmt.Sprintf("HTTP proxy %s, CONNECT %s: %v", e.Proxy, e.Target, e.Err)
}

func (e *ProxyError) Unwrap() error { return e.Err }
