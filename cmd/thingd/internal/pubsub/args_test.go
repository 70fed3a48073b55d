package pubsub

import (
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/zap/zapcore"
)

func TestParseArgsDefaults(t *testing.T) {
	c, err := parseArgs([]string{"--endpoint", "e-ats.iot.eu-west-1.amazonaws.com", "--cert", "c.pem", "--key", "k.pem"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.topic != "test/topic" || c.count != 10 || c.message != "Hello World" || c.port != 8883 || c.proxy != "" || !c.quiet {
		t.Errorf("defaults: %+v", c)
	}
	if !regexp.MustCompile(`^test-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(c.clientID) {
		t.Errorf("default client ID %q is not test-<uuid4>", c.clientID)
	}
}

func TestParseArgsAll(t *testing.T) {
	c, err := parseArgs([]string{"--endpoint=e", "--cert=c", "--key=k", "--ca_file=ca", "--client_id=dev1",
		"--topic=a/b", "--count=3", "--message=hi", "--port_override=443", "--proxy_host=proxy.lan",
		"--proxy_port=3128", "--verbosity=Debug"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := config{endpoint: "e", cert: "c", key: "k", ca: "ca", clientID: "dev1", topic: "a/b", count: 3,
		message: "hi", port: 443, proxy: "http://proxy.lan:3128", level: zapcore.DebugLevel}
	if c != want {
		t.Errorf("got %+v\nwant %+v", c, want)
	}
}

// A command line that cannot work is a usage error naming the flag.
func TestParseArgsUsageErrors(t *testing.T) {
	base := []string{"--endpoint", "e", "--cert", "c", "--key", "k"}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--cert", "c", "--key", "k"}, "--endpoint is required"},
		{[]string{"--endpoint", "e"}, "--cert is required; --key is required"},
		{append(base, "--count", "-1"), "--count -1"},
		{append(base, "--port_override", "70000"), "--port_override 70000"},
		{append(base, "--proxy_host", "p"), "--proxy_host and --proxy_port"},
		{append(base, "--proxy_port", "3128"), "--proxy_host and --proxy_port"},
		{append(base, "--verbosity", "loud"), `--verbosity "loud"`},
		{append(base, "--nope"), "flag provided but not defined"},
		{append(base, "extra"), `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := parseArgs(tt.args, io.Discard)
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v: want a usage error containing %q", err, tt.want)
			}
		})
	}
}
