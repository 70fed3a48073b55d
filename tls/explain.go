package tls

import (
	stdtls "crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"thingd/internal/human"
)

// Kind is the sort of certificate trouble a CertError describes.
type Kind int

const (
	KindUnknownAuthority Kind = iota + 1 // the broker's chain ends outside our trust
	KindHostname                         // the broker's certificate names another host
	KindNotYetValid                      // before NotBefore by the clock used
	KindExpired                          // after NotAfter by the clock used
	KindRejected                         // the broker refused the handshake with a TLS alert
	KindNotTLS                           // the port does not speak TLS
)

func (k Kind) String() string {
	switch k {
	case KindUnknownAuthority:
		return "unknown authority"
	case KindHostname:
		return "hostname mismatch"
	case KindNotYetValid:
		return "not yet valid"
	case KindExpired:
		return "expired"
	case KindRejected:
		return "rejected by broker"
	case KindNotTLS:
		return "not TLS"
	}
	return "unknown"
}

// CertError explains a certificate problem in one sentence; the fields let callers
// (the session's backoff, `thingd check --json`) act on it without parsing text.
type CertError struct {
	Kind        Kind
	Path        string // the device certificate file, when it is the device's certificate
	Host        string // the broker host the connection was for
	Trust       Trust
	Subject     string
	Issuer      string
	Names       []string // names the server certificate is valid for (KindHostname)
	NotBefore   time.Time
	NotAfter    time.Time
	Now         time.Time // the time the certificate was checked against
	ClockSynced bool      // whether Now came from an NTP-synced clock
	Alert       string    // the broker's TLS alert (KindRejected)
	Err         error
}

// Skew is how far Now lies outside the validity window: before NotBefore for
// KindNotYetValid, after NotAfter for KindExpired; zero otherwise.
func (e *CertError) Skew() time.Duration {
	switch e.Kind {
	case KindNotYetValid:
		return e.NotBefore.Sub(e.Now)
	case KindExpired:
		return e.Now.Sub(e.NotAfter)
	}
	return 0
}

func (e *CertError) Unwrap() error { return e.Err }

func (e *CertError) which() string {
	if e.Path != "" {
		return "device certificate " + e.Path
	}
	return "server certificate"
}

func (e *CertError) Error() string {
	switch e.Kind {
	case KindNotYetValid:
		return e.notYetValid()
	case KindExpired:
		return e.expired()
	case KindUnknownAuthority:
		fix := "use the ATS endpoint (<prefix>-ats.iot.<region>.amazonaws.com) or set mqtt.ca_file to the CA that signed the broker's certificate"
		if e.Trust.Source == TrustCAFile {
			fix = "set mqtt.ca_file to the CA that signed the broker's certificate (for AWS IoT: AmazonRootCA1.pem from https://www.amazontrust.com/repository/)"
		}
		return fmt.Sprintf("server certificate for %s (%s, issued by %s) was signed by an authority not in %s; %s",
			e.Host, e.Subject, e.Issuer, e.Trust, fix)
	case KindHostname:
		return fmt.Sprintf("server certificate is for %s, not %s; check mqtt.endpoint (AWS IoT console, Settings, Device data endpoint)",
			strings.Join(e.Names, ", "), e.Host)
	case KindRejected:
		return fmt.Sprintf("the broker %s refused the TLS handshake with %q: %s", e.Host, e.Alert, alertAdvice(e.Alert))
	case KindNotTLS:
		return fmt.Sprintf("the broker %s does not speak TLS on this port; check mqtt.port (AWS IoT: 8883, or 443)", e.Host)
	}
	return fmt.Sprintf("certificate problem: %v", e.Err)
}

func (e *CertError) notYetValid() string {
	s := fmt.Sprintf("%s not yet valid: it starts at %s but this device's clock says %s — ",
		e.which(), stamp(e.NotBefore), stamp(e.Now))
	if !e.ClockSynced {
		return s + fmt.Sprintf("the clock is %s behind and has not been synced with NTP yet; thingd syncs NTP before connecting (see clock.servers)",
			human.Duration(e.Skew().Round(time.Second)))
	}
	fix := "the broker's certificate is post-dated, or the servers in clock.servers are wrong"
	if e.Path != "" {
		fix = "it was issued with a wrong date; create a new certificate in the AWS IoT console"
	}
	return s + fmt.Sprintf("the clock was synced with NTP, so the certificate starts %s in the future; %s", human.Duration(e.Skew().Round(time.Second)), fix)
}

func (e *CertError) expired() string {
	s := fmt.Sprintf("%s expired at %s and this device's clock says %s (%s later) — ",
		e.which(), stamp(e.NotAfter), stamp(e.Now), human.Duration(e.Skew().Round(time.Second)))
	if !e.ClockSynced {
		return s + "the clock has not been synced with NTP yet and may be ahead; thingd syncs NTP before connecting (see clock.servers)"
	}
	if e.Path != "" {
		return s + "the clock was synced with NTP, so the certificate really expired; create a new one in the AWS IoT console and put it at " + e.Path
	}
	return s + "the clock was synced with NTP, so the broker's certificate really expired"
}

func alertAdvice(alert string) string {
	switch alert {
	case "bad certificate", "unknown certificate authority", "certificate unknown", "certificate required", "access denied":
		return "it does not accept this device's certificate; is the certificate registered and ACTIVE in AWS IoT, and its CA known to the broker?"
	case "certificate expired":
		return "it says the device certificate expired; create a new one in the AWS IoT console"
	case "certificate revoked":
		return "the device certificate was revoked; create a new one in the AWS IoT console"
	case "no application protocol":
		return "it requires an ALPN protocol; AWS IoT on port 443 needs x-amzn-mqtt-ca, which thingd offers only when mqtt.port = 443"
	case "protocol version not supported":
		return "it does not accept TLS 1.2 or later"
	}
	return "see the broker's log"
}

// Diag is what Explain needs to know about the connection that failed.
type Diag struct {
	Host        string
	Trust       Trust
	Now         func() time.Time // the clock the handshake used (tls.Config.Time); nil = time.Now
	ClockSynced bool             // whether that clock had been synced with NTP
}

// Explain turns a TLS handshake or connection error into a *CertError that wraps it.
// Errors that are not about certificates or TLS come back unchanged; nil stays nil.
func Explain(err error, d Diag) error {
	if err == nil {
		return nil
	}
	var done *CertError
	if errors.As(err, &done) {
		return err
	}
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	e := &CertError{Host: d.Host, Trust: d.Trust, Now: now(), ClockSynced: d.ClockSynced, Err: err}
	var (
		invalid  x509.CertificateInvalidError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		record   stdtls.RecordHeaderError
		op       *net.OpError
	)
	switch {
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired && invalid.Cert != nil:
		c := invalid.Cert
		e.Subject, e.Issuer, e.NotBefore, e.NotAfter = c.Subject.String(), c.Issuer.String(), c.NotBefore, c.NotAfter
		e.Kind = KindExpired
		if e.Now.Before(c.NotBefore) {
			e.Kind = KindNotYetValid
		}
	case errors.As(err, &unknown) && unknown.Cert != nil:
		e.Kind = KindUnknownAuthority
		e.Subject, e.Issuer = unknown.Cert.Subject.String(), unknown.Cert.Issuer.String()
	case errors.As(err, &hostname) && hostname.Certificate != nil:
		e.Kind = KindHostname
		e.Host = hostname.Host
		e.Subject = hostname.Certificate.Subject.String()
		e.Names = certNames(hostname.Certificate)
	case errors.As(err, &op) && op.Op == "remote error" && op.Err != nil:
		e.Kind = KindRejected
		e.Alert = strings.TrimPrefix(op.Err.Error(), "tls: ")
	case errors.As(err, &record):
		e.Kind = KindNotTLS
	default:
		return err
	}
	return e
}

func certNames(c *x509.Certificate) []string {
	names := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && c.Subject.CommonName != "" {
		names = append(names, "CN="+c.Subject.CommonName+" (no subject alternative names)")
	}
	return names
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
