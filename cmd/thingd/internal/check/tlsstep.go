package check

import (
	"context"
	stdtls "crypto/tls"
	"errors"
	"fmt"
	"strings"

	thingtls "thingd/tls"

	"thingd/internal/human"
)

// tlsStep runs the handshake with the system time and, when NTP answered, with NTP time,
// which is what thingd uses. Each probe waits for a TLS 1.3 refusal of the device
// certificate, which arrives only after the client's handshake has returned.
func (r *runner) tlsStep(ctx context.Context) Result {
	switch {
	case r.files.client == nil:
		return skip("tls", "the certificate, key or CA file did not load")
	case !r.tcpOK:
		return skip("tls", "no TCP connection to "+r.addr)
	}
	data := map[string]any{"addr": r.addr, "trust": r.files.client.Trust.Source.String()}
	sysState, sysErr := r.probe(ctx, r.files.client, false)
	if !r.ntpOK {
		if sysErr != nil {
			return r.tlsFail(sysErr, data)
		}
		r.tls = r.files.client
		data["verified_with"] = []string{"system"}
		return pass("tls", r.tlsPassed(sysState, "the system time (no NTP time to compare with)"), data)
	}

	ntpClient, err := thingtls.Load(r.tlsOptions(r.ntpNow))
	if err != nil { // the files were read a moment ago: they changed under us
		return fail("tls", err.Error(), "run thingd check again", data)
	}
	ntpState, ntpErr := r.probe(ctx, ntpClient, true)
	switch {
	case ntpErr != nil:
		res := r.tlsFail(ntpErr, data)
		if sysErr == nil {
			res.Detail += "; with the system time it verifies, so the servers in clock.servers give a wrong time"
			res.Fix = "list trustworthy servers in clock.servers"
		}
		return res
	case sysErr == nil:
		r.tls, r.synced = ntpClient, true
		data["verified_with"] = []string{"system", "ntp"}
		return pass("tls", r.tlsPassed(ntpState, "the system time and with NTP time"), data)
	}
	r.tls, r.synced = ntpClient, true
	data["verified_with"] = []string{"ntp"}
	detail := r.tlsPassed(ntpState, "NTP time, which thingd uses")
	var ce *thingtls.CertError
	if errors.As(sysErr, &ce) && (ce.Kind == thingtls.KindNotYetValid || ce.Kind == thingtls.KindExpired) {
		addSkew(data, sysErr)
		which := "server certificate"
		if ce.Path != "" {
			which = "device certificate"
		}
		way, edge, when := "behind", "before", "start "+stamp(ce.NotBefore)
		if ce.Kind == thingtls.KindExpired {
			way, edge, when = "ahead", "after", "end "+stamp(ce.NotAfter)
		}
		detail += fmt.Sprintf("; with the system time it fails: the system clock (%s) is %s %s, %s the %s's %s (%s)",
			stamp(ce.Now), human.Duration(r.offset), way, edge, which, when, otherTools(ce.Kind))
		return pass("tls", detail, data)
	}
	data["system_time_error"] = sysErr.Error()
	return warn("tls", detail+"; with the system time it fails: "+sysErr.Error(),
		"run thingd check again; if it persists, the broker or the network is flaky", data)
}

// probe dials the broker and runs one handshake with c.
func (r *runner) probe(ctx context.Context, c *thingtls.Client, synced bool) (stdtls.ConnectionState, error) {
	conn, err := r.connect(ctx)
	if err != nil {
		return stdtls.ConnectionState{}, fmt.Errorf("connect to %s: %w", r.addr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	return c.Probe(ctx, conn, r.o.Settle, synced)
}

func (r *runner) tlsPassed(st stdtls.ConnectionState, with string) string {
	s := fmt.Sprintf("handshake with %s: %s", r.addr, stdtls.VersionName(st.Version))
	if len(st.PeerCertificates) > 0 {
		leaf := st.PeerCertificates[0]
		s += fmt.Sprintf(", server %s issued by %s", leaf.Subject, leaf.Issuer)
	}
	if st.NegotiatedProtocol != "" {
		s += ", ALPN " + st.NegotiatedProtocol
	}
	return s + ", verified against " + r.files.client.Trust.String() + " with " + with + "; the broker accepted the device certificate"
}

func (r *runner) tlsFail(err error, data map[string]any) Result {
	var ce *thingtls.CertError
	if !errors.As(err, &ce) {
		return fail("tls", fmt.Sprintf("handshake with %s: %v", r.addr, err), "check mqtt.endpoint and mqtt.port; see the broker's log", data)
	}
	data["kind"] = ce.Kind.String()
	detail := ce.Error()
	var fix string
	switch ce.Kind {
	case thingtls.KindNotYetValid, thingtls.KindExpired:
		addSkew(data, err)
		detail += " (" + otherTools(ce.Kind) + ")"
		fix = "let thingd reach a server in clock.servers (UDP port 123), or set the system clock (date -s)"
		if ce.ClockSynced {
			fix = "create a new certificate in the AWS IoT console"
			if ce.Path == "" {
				fix = "the broker's certificate is out of date: tell its operator"
			}
		}
	case thingtls.KindUnknownAuthority:
		fix = "set mqtt.ca_file to the CA that signed the broker's certificate (AWS IoT: AmazonRootCA1.pem), or use the -ats endpoint"
	case thingtls.KindHostname:
		fix = "set mqtt.endpoint to the device data endpoint (AWS IoT console, Settings)"
	case thingtls.KindRejected:
		fix = "make sure the certificate is registered and ACTIVE in AWS IoT (or signed by a CA the broker knows)"
	case thingtls.KindNotTLS:
		fix = "check mqtt.port: AWS IoT serves MQTT over TLS on 8883, or 443"
	}
	return fail("tls", strings.TrimSpace(detail), fix, data)
}

// otherTools names the same failure as other clients on this device report it, so a
// person who met it there recognises it here.
func otherTools(k thingtls.Kind) string {
	if k == thingtls.KindExpired {
		return `the AWS SDK reports this as AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE, openssl as "certificate has expired"`
	}
	return `the AWS SDK reports this as AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE, openssl as "certificate is not yet valid"`
}
