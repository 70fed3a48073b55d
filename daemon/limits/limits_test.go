package limits

import (
	"errors"
	"strings"
	"testing"
)

// TestPublishTopic checks every door refusal of DESIGN.md §5 and that ordinary topics pass.
func TestPublishTopic(t *testing.T) {
	tests := []struct {
		topic string
		ok    bool
		why   string
	}{
		{"dt/pi/system", true, ""},
		{"$aws/things/pi/shadow/update", true, ""},
		{"", false, "empty"},
		{strings.Repeat("a", 257), false, "257 bytes"},
		{strings.Repeat("a", 256), true, ""},
		{"a/b/c/d/e/f/g/h", true, ""},
		{"a/b/c/d/e/f/g/h/i", false, "8 slashes"},
		{"dt/+/x", false, "wildcard"},
		{"dt/#", false, "wildcard"},
		{"$SYS/broker", false, "reserved"},
		{"$aws/things/other/shadow/update", false, "reserved for thing \"other\""},
		{"$aws/things/pi/shadow/", false, "reserved"},
		{"$aws/events/presence", false, "reserved"},
		{"bad\xff", false, "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.topic, func(t *testing.T) {
			err := CheckPublishTopic(tt.topic, "pi")
			if tt.ok {
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

func TestFilter(t *testing.T) {
	for filter, ok := range map[string]bool{
		"cmd/pi/#": true, "cmd/+/x": true, "#": true, "$aws/things/pi/shadow/update/delta": true,
		"cmd/#/x": false, "cmd/a+/x": false, "cmd/x#": false, "$SYS/#": false, "": false,
	} {
		if err := CheckFilter(filter, "pi"); (err == nil) != ok {
			t.Errorf("CheckFilter(%q) = %v, want ok=%v", filter, err, ok)
		}
	}
}

func TestPayloadQoSClientID(t *testing.T) {
	if CheckPayload(MaxPayload) != nil || CheckPayload(MaxPayload+1) == nil {
		t.Error("payload limit is not 128 KiB inclusive")
	}
	if CheckQoS(0) != nil || CheckQoS(1) != nil || CheckQoS(2) == nil {
		t.Error("qos: want 0 and 1 accepted, 2 refused")
	}
	if CheckClientID(strings.Repeat("c", 128)) != nil || CheckClientID(strings.Repeat("c", 129)) == nil ||
		CheckClientID("$x") == nil || CheckClientID("") == nil {
		t.Error("client ID limits wrong")
	}
}
