package limits

import (
	"errors"
	"strings"
	"testing"
)

// TestReservedTopics checks AWS IoT's reserved-topic rules for a device publishing as thing "pi".
func TestReservedTopics(t *testing.T) {
	long := strings.Repeat("x", 250)
	tests := []struct {
		topic string
		why   string // "" = accepted
	}{
		// Basic Ingest: the $aws/rules/<rule>/ prefix is not counted.
		{"$aws/rules/telemetry_rule/dt/pi/t", ""},
		{"$aws/rules/R_1/a/b/c/d/e/f/g/h", ""}, // 7 slashes after the prefix, 10 in all
		{"$aws/rules/r/" + long, ""},           // 263 bytes in all, 250 counted
		{"$aws/rules/r/a/b/c/d/e/f/g/h/i", "8 slashes after the Basic Ingest prefix $aws/rules/r/"},
		{"$aws/rules/r/" + strings.Repeat("x", 257), "257 bytes after the Basic Ingest prefix"},
		{"$aws/rules/bad-name/t", "rule name \"bad-name\""},
		{"$aws/rules/bad.name/t", "rule name"},
		{"$aws/rules/" + strings.Repeat("r", 129) + "/t", "rule name"},
		{"$aws/rules/" + strings.Repeat("r", 128) + "/t", ""},
		{"$aws/rules//t", "rule name \"\""},
		{"$aws/rules/r", "needs a topic after"},
		{"$aws/rules/r/", "needs a topic after"},
		// Shadow, classic and named.
		{"$aws/things/pi/shadow/update", ""},
		{"$aws/things/pi/shadow/get", ""},
		{"$aws/things/pi/shadow/delete", ""},
		{"$aws/things/pi/shadow/update/accepted", "reserved"},
		{"$aws/things/pi/shadow/name/cfg:main_1-a/update", ""},
		{"$aws/things/pi/shadow/name/" + strings.Repeat("s", 64) + "/get", ""},
		{"$aws/things/pi/shadow/name/" + strings.Repeat("s", 65) + "/get", "reserved"},
		{"$aws/things/pi/shadow/name/bad.name/get", "reserved"},
		{"$aws/things/pi/shadow/name//get", "reserved"},
		{"$aws/things/pi/shadow/name/x/update/delta", "reserved"},
		{"$aws/things/other/shadow/update", "reserved for thing \"other\""},
		// Jobs and Device Defender of the thing itself.
		{"$aws/things/pi/jobs/get", ""},
		{"$aws/things/pi/jobs/start-next", ""},
		{"$aws/things/pi/jobs/job-42_a/get", ""},
		{"$aws/things/pi/jobs/job-42/update", ""},
		{"$aws/things/pi/jobs/job-42/notify", "reserved"},
		{"$aws/things/pi/jobs/notify-next", "reserved"},
		{"$aws/things/other/jobs/get", "reserved for thing"},
		{"$aws/things/pi/defender/metrics/json", ""},
		{"$aws/things/pi/defender/metrics/cbor", ""},
		{"$aws/things/pi/defender/metrics/xml", "reserved"},
		// Fleet provisioning.
		{"$aws/certificates/create/json", ""},
		{"$aws/certificates/create-from-csr/cbor", ""},
		{"$aws/certificates/create/json/accepted", "fleet provisioning"},
		{"$aws/provisioning-templates/my_template-1/provision/json", ""},
		{"$aws/provisioning-templates/" + strings.Repeat("t", 37) + "/provision/json", "fleet provisioning"},
		{"$aws/provisioning-templates/t/provision/json/accepted", "fleet provisioning"},
		// Everything else under $.
		{"$aws/events/presence/connected/pi", "reserved"},
		{"$aws/sitewise/x", "reserved"},
		{"$aws", "reserved"},
		{"$SYS/broker", "reserved"},
		{"$other/x", "reserved"},
	}
	for _, tt := range tests {
		t.Run(tt.topic, func(t *testing.T) {
			err := CheckPublishTopic(tt.topic, "pi")
			if tt.why == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tt.why) {
				t.Fatalf("got %v, want a refusal mentioning %q", err, tt.why)
			}
		})
	}
}

func TestReservedWithoutThingName(t *testing.T) {
	err := CheckPublishTopic("$aws/things/pi/shadow/update", "")
	if err == nil || !strings.Contains(err.Error(), "thing_name") {
		t.Fatalf("got %v, want a refusal naming thing_name", err)
	}
	if err := CheckPublishTopic("$aws/rules/r/t", ""); err != nil {
		t.Fatalf("Basic Ingest needs no thing name: %v", err)
	}
}

func TestFilterRefusesBasicIngest(t *testing.T) {
	if err := CheckFilter("$aws/rules/r/#", "pi"); err == nil || !strings.Contains(err.Error(), "Basic Ingest") {
		t.Fatalf("got %v", err)
	}
}

// FuzzPublishTopic: any topic is either refused with ErrRefused or fits AWS's limits with
// the Basic Ingest prefix taken off, and never panics.
func FuzzPublishTopic(f *testing.F) {
	for _, s := range []string{"dt/pi/t", "$aws/rules/r/a/b", "$aws/things/pi/shadow/name/n/get", "$aws/things/pi/jobs/j/update",
		"$aws/certificates/create/json", "$aws/provisioning-templates/t/provision/cbor", "$aws/rules//", "$", "$aws/things/pi"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		err := CheckPublishTopic(topic, "pi")
		if err != nil {
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("%q: error without ErrRefused: %v", topic, err)
			}
			return
		}
		counted := topic
		if rest, ok := strings.CutPrefix(topic, rulesPrefix); ok {
			_, counted, _ = strings.Cut(rest, "/")
		} else if strings.HasPrefix(topic, "$") && !strings.HasPrefix(topic, "$aws/") {
			t.Fatalf("%q accepted", topic)
		}
		if len(counted) > MaxTopicBytes || strings.Count(counted, "/") > MaxTopicSlashes || strings.ContainsAny(topic, "+#") {
			t.Fatalf("%q accepted beyond the limits", topic)
		}
	})
}
