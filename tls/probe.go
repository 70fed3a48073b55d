package tls

import (
	"context"
	stdtls "crypto/tls"
	"errors"
	"net"
	"os"
	"time"
)

// Probe runs the TLS handshake on conn (already dialled, perhaps through a proxy) and
// closes it; it is the TLS step of `thingd check`. Under TLS 1.3 a broker refuses the
// client certificate only after the client's half of the handshake is done, so Probe
// then waits up to settle for that refusal: silence (an MQTT broker says nothing before
// CONNECT) or data counts as accepted. Errors come explained, as by Explain.
func (c *Client) Probe(ctx context.Context, conn net.Conn, settle time.Duration, clockSynced bool) (stdtls.ConnectionState, error) {
	tc := stdtls.Client(conn, c.Config)
	defer tc.Close()
	if err := tc.HandshakeContext(ctx); err != nil {
		return stdtls.ConnectionState{}, c.Explain(err, clockSynced)
	}
	state := tc.ConnectionState()
	deadline := time.Now().Add(settle)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := tc.SetReadDeadline(deadline); err != nil {
		return state, err
	}
	var b [1]byte
	if _, err := tc.Read(b[:]); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return state, c.Explain(err, clockSynced)
	}
	return state, nil
}
