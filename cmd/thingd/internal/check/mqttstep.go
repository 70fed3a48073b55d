package check

import (
	"context"
	stdtls "crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"syscall"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	thingtls "thingd/tls"
)

// mqttStep sends CONNECT with the configured client ID and session flag, over the TLS
// setup that verified, and reads the CONNACK.
func (r *runner) mqttStep(ctx context.Context) Result {
	id := r.cfg.MQTT.ClientID
	if r.tls == nil {
		r.noMQTT = "the TLS handshake did not succeed"
		return skip("mqtt", r.noMQTT)
	}
	if r.o.DaemonRunning(r.cfg) {
		r.noMQTT = "thingd is running"
		return skip("mqtt", fmt.Sprintf("thingd is running (%s answers): a second connection as client ID %q would take over its session; see `thingd status`, or stop it (systemctl stop thingd) and check again",
			r.cfg.Local.Socket, id))
	}
	data := map[string]any{"addr": r.addr, "client_id": id}
	opts := mqtt.NewClientOptions().
		AddBroker("tls://" + r.addr). // only a label: the connection comes from dialTLS
		SetClientID(id).
		SetCleanSession(r.cfg.MQTT.CleanSession). // as the daemon: never wipe its persistent session
		SetProtocolVersion(4).
		SetKeepAlive(r.cfg.MQTT.Keepalive.D()).
		SetConnectTimeout(r.o.Timeout).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetCustomOpenConnectionFn(func(*url.URL, mqtt.ClientOptions) (net.Conn, error) { return r.dialTLS(ctx) })
	// Messages queued for the daemon's subscriptions may arrive on this session; having no
	// handler for them, paho never acknowledges them, so the broker keeps them for thingd.
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	if !waitToken(ctx, tok, r.o.Timeout*2) {
		c.Disconnect(0)
		r.noMQTT = "CONNECT timed out"
		return fail("mqtt", fmt.Sprintf("no CONNACK from %s within %s", r.addr, r.o.Timeout*2),
			"the broker accepted TLS but did not answer MQTT: is this an MQTT port?", data)
	}
	ct := tok.(*mqtt.ConnectToken)
	rc, err := ct.ReturnCode(), tok.Error()
	data["connack"] = rc
	if err == nil {
		r.client = c
		data["session_present"] = ct.SessionPresent()
		return pass("mqtt", fmt.Sprintf("CONNACK 0 (accepted) from %s for client ID %q, session present %t",
			r.addr, id, ct.SessionPresent()), data)
	}
	r.noMQTT = "CONNECT failed"
	if rc != packets.ErrNetworkError {
		return fail("mqtt", fmt.Sprintf("CONNACK %d (%s) from %s for client ID %q", rc, packets.ConnackReturnCodes[rc], r.addr, id),
			connackFix(rc, id), data)
	}
	delete(data, "connack")
	var ce *thingtls.CertError
	if errors.As(r.tls.Explain(lastCause(err), r.synced), &ce) { // a TLS 1.3 refusal arrives here
		res := r.tlsFail(ce, data)
		res.Step = "mqtt"
		return res
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
		data["closed_after_connect"] = true
		return fail("mqtt", fmt.Sprintf("%s closed the connection right after CONNECT as client ID %q, without a CONNACK", r.addr, id),
			fmt.Sprintf("on AWS IoT this means the IoT policy attached to the certificate does not allow iot:Connect for client ID %q (resource client/%s), "+
				"the certificate is inactive or has no policy, or another device connects with the same client ID", id, id), data)
	}
	return fail("mqtt", fmt.Sprintf("CONNECT to %s as %q: %v", r.addr, id, err), "see the broker's log", data)
}

// lastCause digs paho's network error ("%w : %w" of its sentinel and the cause) for the
// cause, so that a TLS alert reaches Explain.
func lastCause(err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		if es := j.Unwrap(); len(es) > 0 {
			return es[len(es)-1]
		}
	}
	return err
}

// dialTLS opens a connection for paho: TCP (or the proxy tunnel), then TLS with the setup
// that verified in the TLS step.
func (r *runner) dialTLS(ctx context.Context) (net.Conn, error) {
	raw, err := r.connect(ctx)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	tc := stdtls.Client(raw, r.tls.Config)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return tc, nil
}

func connackFix(rc byte, id string) string {
	switch rc {
	case packets.ErrRefusedBadProtocolVersion:
		return "the broker does not speak MQTT 3.1.1"
	case packets.ErrRefusedIDRejected:
		return fmt.Sprintf("client ID %q was rejected: use 1 to 128 bytes without a leading '$' (mqtt.client_id)", id)
	case packets.ErrRefusedServerUnavailable:
		return "the broker is unavailable right now: try again later"
	}
	return fmt.Sprintf("check that the certificate is ACTIVE and attached to the thing and to a policy that allows iot:Connect for client ID %q", id)
}

// waitToken waits for a paho token, up to d or the end of ctx.
func waitToken(ctx context.Context, tok mqtt.Token, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-tok.Done():
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}
