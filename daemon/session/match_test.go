package session

import (
	"testing"

	"thingd/daemon/limits"
)

func TestMatchTopic(t *testing.T) {
	tests := []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/b", "a/b/c", false},
		{"a/b/c", "a/b", false},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/+/c", "a/x/c", true},
		{"+/+", "a/b", true},
		{"+", "a", true},
		{"+", "a/b", false},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"a/#", "ab", false},
		{"#", "a/b", true},
		{"a/+", "a/", true},
		{"cmd/raspi/#", "cmd/raspi/reboot", true},
		{"cmd/raspi/#", "cmd/other/reboot", false},
		{"#", "$aws/things/x", false},
		{"+/things/x", "$aws/things/x", false},
		{"$aws/things/+/shadow/#", "$aws/things/x/shadow/update/accepted", true},
	}
	for _, tt := range tests {
		if got := limits.Match(tt.filter, tt.topic); got != tt.want {
			t.Errorf("limits.Match(%q, %q) = %v, want %v", tt.filter, tt.topic, got, tt.want)
		}
	}
}

// Subscriptions are checked by limits.CheckFilter, the same rules as the config's.
func TestValidFilter(t *testing.T) {
	for _, ok := range []string{"a", "a/b", "a/+/c", "#", "a/#", "+", "$aws/things/x/shadow/#"} {
		if err := limits.CheckFilter(ok, ""); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"a/#/b", "a#", "a/b+", "#/a", "a/+b"} {
		if err := limits.CheckFilter(bad, ""); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}
