package session

import (
	"context"
	"crypto/tls"
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"strings"
	"testing"
	"time"
)

func validOptions() Options {
	return Options{
		Endpoint:  "example-ats.iot.eu-west-1.amazonaws.com",
		ClientID:  "raspi",
		TLSConfig: func() (*tls.Config, error) { return &tls.Config{}, nil },
	}
}

func nopHandle(context.Context, string, []byte) error { return nil }

// New refuses options that could never work, naming the value and the fix.
func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Options)
		subs []Subscription
		want string
	}{
		{"no endpoint", func(o *Options) { o.Endpoint = "" }, nil, "endpoint is empty"},
		{"no client id", func(o *Options) { o.ClientID = "" }, nil, "client ID is empty"},
		{"long client id", func(o *Options) { o.ClientID = strings.Repeat("x", 129) }, nil, "at most 128"},
		{"bad port", func(o *Options) { o.Port = 70000 }, nil, "port 70000"},
		{"no tls", func(o *Options) { o.TLSConfig = nil }, nil, "TLSConfig"},
		{"socks proxy", func(o *Options) { o.Proxy = "socks5://p:1080" }, nil, "only http://"},
		{"proxy without port", func(o *Options) { o.Proxy = "http://p" }, nil, "host and a port"},
		{"proxy with path", func(o *Options) { o.Proxy = "http://p:3128/x" }, nil, "path"},
		{"negative keepalive", func(o *Options) { o.Keepalive = -time.Second }, nil, "negative"},
		{"qos 2 subscription", nil, []Subscription{{Filter: "a", QoS: 2, Handle: nopHandle}}, "QoS 2"},
		{"bad filter", nil, []Subscription{{Filter: "a/#/b", Handle: nopHandle}}, "# must be a whole level"},
		{"no handler", nil, []Subscription{{Filter: "a"}}, "no handler"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := validOptions()
			if tt.edit != nil {
				tt.edit(&o)
			}
			_, err := New(o, tt.subs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	o := validOptions()
	o.Proxy = "http://user:pw@proxy.lan:3128"
	s, err := New(o, []Subscription{{Filter: "cmd/#", QoS: 1, Handle: nopHandle}})
	if err != nil {
		t.Fatal(err)
	}
	if s.o.Port != 8883 || s.o.Keepalive != time.Minute || s.o.ConnectTimeout != 30*time.Second || s.o.CleanSession {
		t.Errorf("defaults: port %d keepalive %v connect timeout %v clean %v", s.o.Port, s.o.Keepalive, s.o.ConnectTimeout, s.o.CleanSession)
	}
	r := mqtt.NewClient(s.pahoOptions(make(chan error, 1))).OptionsReader()
	if r.AutoReconnect() || r.ConnectRetry() || r.ResumeSubs() || !r.Order() || r.CleanSession() || r.ProtocolVersion() != 4 {
		t.Errorf("paho options: autoreconnect %v retry %v resumesubs %v order %v clean %v protocol %d",
			r.AutoReconnect(), r.ConnectRetry(), r.ResumeSubs(), r.Order(), r.CleanSession(), r.ProtocolVersion())
	}
}

// Before Run, Publish refuses at once instead of queueing inside paho.
func TestPublishBeforeRun(t *testing.T) {
	s, err := New(validOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Publish(context.Background(), "a", 1, []byte("x")); err != ErrNotConnected {
		t.Errorf("Publish before Run: %v, want ErrNotConnected", err)
	}
	if _, err := s.Publish(context.Background(), "a", 2, []byte("x")); err == nil {
		t.Error("QoS 2: want an error")
	}
}
