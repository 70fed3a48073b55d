package pubsub

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"go.uber.org/zap/zapcore"
)

// config is the parsed command line, with the sample's defaults.
type config struct {
	endpoint, cert, key, ca string
	clientID, topic         string
	message                 string
	count                   int
	port                    int
	proxy                   string // "http://host:port" or ""
	level                   zapcore.Level
	quiet                   bool // --verbosity None
}

// errUsage marks a command line that cannot work; the caller exits 2.
var errUsage = errors.New("usage")

func parseArgs(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("thingd pubsub", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.endpoint, "endpoint", "", "AWS IoT data endpoint (required)")
	fs.StringVar(&c.cert, "cert", "", "device certificate PEM file (required)")
	fs.StringVar(&c.key, "key", "", "device private key PEM file (required)")
	fs.StringVar(&c.ca, "ca_file", "", "CA bundle PEM file (default: system trust store, then built-in Amazon roots)")
	fs.StringVar(&c.clientID, "client_id", "", `MQTT client ID (default "test-<random uuid>")`)
	fs.StringVar(&c.topic, "topic", "test/topic", "topic to subscribe and publish to")
	fs.IntVar(&c.count, "count", 10, "messages to publish; 0 = until interrupted")
	fs.StringVar(&c.message, "message", "Hello World", "message text; \"\" = only subscribe")
	fs.IntVar(&c.port, "port_override", 0, "port: 8883 (default) or 443")
	proxyHost := fs.String("proxy_host", "", "HTTP proxy host")
	proxyPort := fs.Int("proxy_port", 0, "HTTP proxy port")
	verbosity := fs.String("verbosity", "None", "log level: Fatal, Error, Warn, Info, Debug, Trace or None")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: thingd pubsub --endpoint E --cert F --key F [flags]\n\n"+
			"Subscribes to --topic, publishes --count messages \"<message> <n>\" once a second at QoS 1\n"+
			"and waits until every one came back, like the AWS IoT Device SDK's mqtt5_pubsub sample.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, fmt.Errorf("%w: %v", errUsage, err)
	}
	if c.clientID == "" {
		c.clientID = "test-" + uuid4()
	}
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	for _, req := range []struct{ name, val string }{{"endpoint", c.endpoint}, {"cert", c.cert}, {"key", c.key}} {
		if req.val == "" {
			problems = append(problems, "--"+req.name+" is required")
		}
	}
	if c.count < 0 {
		problems = append(problems, fmt.Sprintf("--count %d: use 0 (until interrupted) or more", c.count))
	}
	if c.port == 0 {
		c.port = 8883
	} else if c.port < 1 || c.port > 65535 {
		problems = append(problems, fmt.Sprintf("--port_override %d is not a port: AWS IoT uses 8883 or 443", c.port))
	}
	switch {
	case *proxyHost != "" && *proxyPort > 0 && *proxyPort <= 65535:
		c.proxy = "http://" + net.JoinHostPort(*proxyHost, strconv.Itoa(*proxyPort))
	case *proxyHost != "" || *proxyPort != 0:
		problems = append(problems, "--proxy_host and --proxy_port go together (port 1..65535)")
	}
	lvl, quiet, ok := parseVerbosity(*verbosity)
	if !ok {
		problems = append(problems, fmt.Sprintf("--verbosity %q: use Fatal, Error, Warn, Info, Debug, Trace or None", *verbosity))
	}
	c.level, c.quiet = lvl, quiet
	if len(problems) > 0 {
		return c, fmt.Errorf("%w: %s", errUsage, strings.Join(problems, "; "))
	}
	return c, nil
}

// parseVerbosity maps the SDK's log levels onto zap's (zap has no Trace: Debug it is).
func parseVerbosity(v string) (lvl zapcore.Level, quiet, ok bool) {
	switch strings.ToLower(v) {
	case "none", "":
		return zapcore.InfoLevel, true, true
	case "fatal":
		return zapcore.FatalLevel, false, true
	case "error":
		return zapcore.ErrorLevel, false, true
	case "warn":
		return zapcore.WarnLevel, false, true
	case "info":
		return zapcore.InfoLevel, false, true
	case "debug", "trace":
		return zapcore.DebugLevel, false, true
	}
	return 0, false, false
}

// uuid4 is a random UUID, like the sample's default client ID "test-<uuid4>".
func uuid4() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
