package session

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"go.uber.org/zap"

	"thingd/daemon/limits"
	thingtls "thingd/tls"
)

// Options configure a Session. Zero values mean the defaults noted on each field.
type Options struct {
	Endpoint string // broker host name, e.g. xxxx-ats.iot.<region>.amazonaws.com
	Port     int    // 8883 (default) or 443 (then ALPN "x-amzn-mqtt-ca" is offered)
	ClientID string
	// Keepalive is the MQTT keepalive; default 60s. AWS IoT accepts 30s..1200s.
	Keepalive time.Duration
	// CleanSession false (the default) asks for a persistent session.
	CleanSession bool
	// Proxy is an HTTP CONNECT proxy, "http://host:port" (user:password@ allowed); "" = direct.
	Proxy string
	// TLSConfig is called for every new connection, so renewed certificates and a corrected
	// clock apply without a restart. Required.
	TLSConfig func() (*tls.Config, error)
	// ExplainErr, if set, turns TLS errors into ones a person can act on (the tls package's
	// Explain). Its result is wrapped in a *TLSError.
	ExplainErr func(error) error
	Logger     *zap.Logger
	// ConnectTimeout bounds TCP + proxy + TLS + CONNACK of one attempt; default 30s.
	ConnectTimeout time.Duration
	// AckTimeout is how long a SUBACK may take before the subscription is sent again; default 20s.
	AckTimeout time.Duration
	Backoff    BackoffOptions
	// OnEvent, if set, is called on every connect, subscribe, disconnect and failed attempt,
	// in order and never concurrently. It must not block; hand the event off.
	OnEvent func(Event)
	// InboxSize bounds inbound messages waiting for the worker; default 64. When it is full a
	// QoS0 message is dropped (counted in State.DroppedQoS0) and a QoS1 message is still
	// queued: it stays unacknowledged, so the broker's in-flight window bounds those.
	InboxSize int
}

// Defaults.
const (
	DefaultPort           = 8883
	DefaultKeepalive      = 60 * time.Second
	DefaultConnectTimeout = 30 * time.Second
	DefaultAckTimeout     = 20 * time.Second
	DefaultInboxSize      = 64
	alpnPort              = 443
	alpnAWS               = thingtls.AWSIoTALPN // one name; tls.Client sets it, dial only fills it in for other loaders
)

// Subscription is one topic filter and the handler for the messages it matches.
type Subscription struct {
	Filter string
	QoS    byte // 0 or 1
	// Handle returns once the message is accepted (for example queued or written). A non-nil
	// error means not accepted: a QoS1 message is then left unacknowledged, and the broker
	// delivers it again after the next reconnect. ctx ends when the Session stops.
	Handle func(ctx context.Context, topic string, payload []byte) error
}

func (o Options) withDefaults() Options {
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.Keepalive == 0 {
		o.Keepalive = DefaultKeepalive
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.AckTimeout == 0 {
		o.AckTimeout = DefaultAckTimeout
	}
	if o.InboxSize == 0 {
		o.InboxSize = DefaultInboxSize
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	o.Backoff = o.Backoff.withDefaults()
	return o
}

func (o Options) validate(subs []Subscription) error {
	var errs []error
	if o.Endpoint == "" {
		errs = append(errs, errors.New("mqtt endpoint is empty: set it to your AWS IoT data endpoint (aws iot describe-endpoint --endpoint-type iot:Data-ATS)"))
	}
	if o.Port < 1 || o.Port > 65535 {
		errs = append(errs, fmt.Errorf("mqtt port %d is out of range: use 8883 or 443", o.Port))
	}
	if err := limits.CheckClientID(o.ClientID); err != nil {
		errs = append(errs, fmt.Errorf("mqtt client ID: %w (usually the thing name)", err))
	}
	if o.Keepalive < 0 || o.ConnectTimeout < 0 || o.AckTimeout < 0 || o.InboxSize < 0 {
		errs = append(errs, errors.New("mqtt keepalive, timeouts and inbox size must not be negative"))
	}
	if o.TLSConfig == nil {
		errs = append(errs, errors.New("session needs a TLSConfig function (mutual TLS is required by AWS IoT)"))
	}
	if o.Proxy != "" {
		if _, err := parseProxy(o.Proxy); err != nil {
			errs = append(errs, err)
		}
	}
	if err := o.Backoff.validate(); err != nil {
		errs = append(errs, err)
	}
	for i, s := range subs {
		if s.Filter == "" {
			errs = append(errs, fmt.Errorf("subscription %d has an empty topic filter", i+1))
		} else if err := limits.CheckFilter(s.Filter, ""); err != nil {
			errs = append(errs, fmt.Errorf("subscription %d: %w", i+1, err))
		}
		if s.QoS > 1 {
			errs = append(errs, fmt.Errorf("subscription %q asks for QoS %d: AWS IoT supports 0 and 1", s.Filter, s.QoS))
		}
		if s.Handle == nil {
			errs = append(errs, fmt.Errorf("subscription %q has no handler", s.Filter))
		}
	}
	return errors.Join(errs...)
}

// parseProxy accepts "http://host:port" (userinfo allowed) and nothing else.
func parseProxy(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("mqtt proxy %q is not a URL: %w; use http://host:port", s, err)
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("mqtt proxy %q: only http:// (HTTP CONNECT) proxies are supported; use http://host:port", s)
	}
	if u.Hostname() == "" || u.Port() == "" {
		return nil, fmt.Errorf("mqtt proxy %q needs a host and a port: use http://host:port", s)
	}
	if p, err := strconv.Atoi(u.Port()); err != nil || p < 1 || p > 65535 {
		return nil, fmt.Errorf("mqtt proxy %q has an invalid port: use http://host:port", s)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("mqtt proxy %q must not have a path or query: use http://host:port", s)
	}
	return u, nil
}
