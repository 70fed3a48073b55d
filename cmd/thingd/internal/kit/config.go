package kit

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"

	"thingd/daemon/config"
	"thingd/internal/human"
)

// TelemetryTopic is where the config written from a kit sends the built-in metrics.
const TelemetryTopic = "dt/{thing}/system"

// Setup is the configuration a kit implies and what the person should know about it.
type Setup struct {
	Config   []byte   // a complete, commented thingd.toml
	ClientID string   // the kit's, or a fallback explained in Warnings
	Warnings []string // fallbacks taken and policy gaps, also written into Config
}

// Setup renders the config file for this kit. source names the kit in a comment;
// certFile and keyFile are written as given (relative paths resolve against the
// config's directory).
func (k *Kit) Setup(source, certFile, keyFile string) Setup {
	s := Setup{}
	s.ClientID, s.Warnings = k.clientID()
	topic := config.ExpandTopic(TelemetryTopic, k.Thing)
	if ok, err := k.Allows("iot:Publish", "topic/"+topic); err == nil && !ok {
		s.Warnings = append(s.Warnings, fmt.Sprintf("the kit's policy %s-Policy does not let this device publish to %s, "+
			"and AWS IoT drops a connection that publishes outside its policy: add "+
			"arn:aws:iot:REGION:ACCOUNT:topic/%s to the policy's iot:Publish resources "+
			"(AWS IoT console, Security, Policies) or change [[telemetry]] topic", k.Thing, topic, topic))
	}
	var notes []string
	if k.Endpoint == "" {
		notes = append(notes, "REQUIRED: "+NoEndpointFix)
	}
	for _, w := range s.Warnings {
		notes = append(notes, "NOTE: "+w)
	}
	var b bytes.Buffer
	err := configTemplate.Execute(&b, map[string]any{
		"Source": human.OneLine(source), "Notes": notes, "Kit": k, "ClientID": s.ClientID,
		"CertFile": certFile, "KeyFile": keyFile, "Telemetry": TelemetryTopic, "KitTopic": human.OneLine(k.Topic),
	})
	if err != nil {
		panic(err) // the template is fixed and its data are strings: a bug, not input
	}
	s.Config = b.Bytes()
	return s
}

// NoEndpointFix tells the person where to find the endpoint a kit did not name.
const NoEndpointFix = "set mqtt.endpoint to your account's device data endpoint, shown in the AWS IoT console " +
	"under Settings (Device data endpoint) or by `aws iot describe-endpoint --endpoint-type iot:Data-ATS`"

// clientID picks the MQTT client ID. The console's policy allows the SDK samples'
// IDs, so without --client_id the sample's default is the one most likely allowed.
func (k *Kit) clientID() (string, []string) {
	if k.ClientID != "" {
		return k.ClientID, nil
	}
	if ok, err := k.Allows("iot:Connect", "client/"+k.Thing); err != nil || ok {
		return k.Thing, []string{"the kit's start.sh names no --client_id: using the thing name " + k.Thing}
	}
	if ok, _ := k.Allows("iot:Connect", "client/basicPubSub"); ok {
		return "basicPubSub", []string{"the kit's start.sh names no --client_id: using basicPubSub, the SDK sample's default, which the kit's policy allows"}
	}
	return k.Thing, []string{fmt.Sprintf("the kit's start.sh names no --client_id and its policy does not allow the thing name: "+
		"allow iot:Connect on arn:aws:iot:REGION:ACCOUNT:client/%s in %s-Policy, or set mqtt.client_id", k.Thing, k.Thing)}
}

// quote writes a TOML basic string.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// comment wraps text into "# " lines of about 80 columns.
func comment(text string) string {
	var lines []string
	line := "#"
	for _, w := range strings.Fields(human.OneLine(text)) {
		if len(line)+1+len(w) > 80 && line != "#" {
			lines = append(lines, line)
			line = "#  "
		}
		line += " " + w
	}
	return strings.Join(append(lines, line), "\n")
}

var configTemplate = template.Must(template.New("thingd.toml").Funcs(template.FuncMap{
	"q": quote, "comment": comment,
}).Parse(`# thingd configuration, written by ` + "`thingd import`" + ` from the AWS IoT console's
# connect kit {{.Source}} (thing {{.Kit.Thing}}).
#
# Test every step up to a round trip: thingd check
# After an edit: systemctl reload thingd (a bad file keeps the old settings
# running and says why in journalctl -u thingd).
# Strict: an unknown key, a wrong type or an invalid value is an error naming
# this file, the line and the key.
{{- range .Notes}}
#
{{comment .}}
{{- end}}

version = 1

[mqtt]
endpoint   = {{q .Kit.Endpoint}}   # the account's device data endpoint
port       = 8883          # 443 uses ALPN "x-amzn-mqtt-ca"
client_id  = {{q .ClientID}}   # one connection per client ID; the policy must allow it
thing_name = {{q .Kit.Thing}}   # {thing} in topics
# Relative paths are resolved against this file's directory.
cert_file  = {{q .CertFile}}
key_file   = {{q .KeyFile}}
ca_file    = ""            # "": system trust store, then built-in Amazon roots
keepalive  = "60s"         # AWS IoT accepts 30s..1200s
proxy      = ""            # "http://host:port": HTTP CONNECT proxy
max_publish_rate = 100     # publishes per second (AWS IoT's per-connection limit); 0 = unlimited

[clock]
servers    = ["time.aws.com", "pool.ntp.org"]   # "host" or "host:port"
step       = "auto"        # "auto": set the system clock when permitted; "never"
state_file = "/var/lib/thingd/clock"

[queue]
dir        = "/var/lib/thingd/queue"
max_bytes  = "64MiB"       # when full: drop oldest, count it, log it

[local]
socket     = "/run/thingd/thingd.sock"   # thingd pub and other producers talk here

# Built-in Pi metrics (CPU, memory, temperature...), every interval.
{{- if .KitTopic}}
# The kit's sample published to "{{.KitTopic}}"; the console's default policy
# allows only the samples' topics, so allow this one in the policy too.
{{- end}}
[[telemetry]]
topic      = {{q .Telemetry}}
interval   = "60s"

# Messages from the cloud: run a program for each one (argv, payload on stdin,
# no shell), or append them to a file with file = "/path".
# [[subscribe]]
# topic      = "cmd/{thing}/#"
# exec       = ["/usr/local/bin/on-command"]

[log]
level      = "info"        # debug, info, warn, error
`))
