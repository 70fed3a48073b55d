package limits

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		filter, topic string
		want          bool
	}{
		// Examples from MQTT 3.1.1 section 4.7.1.
		{"sport/tennis/player1/#", "sport/tennis/player1", true},
		{"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
		{"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
		{"sport/#", "sport", true},
		{"#", "sport/tennis", true},
		{"sport/tennis/#", "sport/tennis", true},
		{"sport/tennis+", "sport/tennis", false},          // invalid filter
		{"sport/tennis/#/ranking", "sport/tennis", false}, // invalid filter
		{"sport/tennis/+", "sport/tennis/player1", true},
		{"sport/tennis/+", "sport/tennis/player2", true},
		{"sport/tennis/+", "sport/tennis/player1/ranking", false},
		{"sport/+", "sport", false},
		{"sport/+", "sport/", true},
		{"+/+", "/finance", true},
		{"/+", "/finance", true},
		{"+", "/finance", false},
		{"+/tennis/#", "sport/tennis/player1", true},
		{"sport/+/player1", "sport/tennis/player1", true},
		{"+", "", false},
		{"", "a", false},
		// "$" topics and wildcards (4.7.2).
		{"#", "$SYS/broker", false},
		{"+/monitor/Clients", "$SYS/monitor/Clients", false},
		{"$SYS/#", "$SYS/monitor/Clients", true},
		{"$SYS/monitor/+", "$SYS/monitor/Clients", true},
		{"$aws/things/raspi2-test/shadow/#", "$aws/things/raspi2-test/shadow/update/accepted", true},
		// Case sensitive, exact levels, empty levels.
		{"cmd/raspi2-test/#", "cmd/raspi2-test/reboot", true},
		{"cmd/raspi2-test/#", "cmd/Raspi2-test/reboot", false},
		{"cmd/raspi2-test/#", "cmd/raspi2-test-2/reboot", false},
		{"cmd/raspi2-test", "cmd/raspi2-test/", false},
		{"a//b", "a//b", true},
		{"a/+/b", "a//b", true},
		{"a/b", "a/b/c", false},
		{"a/b/c", "a/b", false},
		// Wildcards in a topic name are never valid.
		{"a/+", "a/+", false},
		{"#", "a/#", false},
		// Invalid filters match nothing, even when a prefix would.
		{"a/#b", "a/#b", false},
		{"a/b#", "a/b", false},
		{"#/a", "x/a", false},
		{"a/++", "a/b", false},
		// Not MQTT strings: malformed UTF-8, U+0000.
		{"#", "a/\xa4", false},
		{"a/\xa4", "a/\xa4", false},
		{"#", "a/\x00", false},
		{"a/+/温度", "a/居間/温度", true},
	} {
		t.Run(tc.filter+" "+tc.topic, func(t *testing.T) {
			if got := Match(tc.filter, tc.topic); got != tc.want {
				t.Errorf("Match(%q, %q) = %v, want %v", tc.filter, tc.topic, got, tc.want)
			}
		})
	}
}

// FuzzMatch compares Match with a regular-expression model of the same rules; the seed corpus
// lives in testdata/fuzz/FuzzMatch.
func FuzzMatch(f *testing.F) {
	f.Fuzz(func(t *testing.T, filter, topic string) {
		got := Match(filter, topic)
		if want := matchModel(filter, topic); got != want {
			t.Errorf("Match(%q, %q) = %v, model says %v", filter, topic, got, want)
		}
		if !strings.ContainsAny(topic, "+#") && topic != "" && utf8.ValidString(topic) && !strings.ContainsRune(topic, 0) && !Match(topic, topic) {
			t.Errorf("Match(%q, %q) = false: a topic used as its own filter must match", topic, topic)
		}
	})
}

// matchModel is an independent statement of the rules: validate the filter level by level, then
// translate it into an anchored regular expression.
func matchModel(filter, topic string) bool {
	if filter == "" || topic == "" || strings.ContainsAny(topic, "+#") {
		return false
	}
	for _, s := range []string{filter, topic} {
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return false
		}
	}
	levels := strings.Split(filter, "/")
	for i, l := range levels {
		if l == "#" && i != len(levels)-1 {
			return false
		}
		if l != "#" && l != "+" && strings.ContainsAny(l, "+#") {
			return false
		}
	}
	if strings.HasPrefix(topic, "$") && (levels[0] == "+" || levels[0] == "#") {
		return false
	}
	var re strings.Builder
	re.WriteString(`(?s)\A`)
	for i, l := range levels {
		sep := ""
		if i > 0 {
			sep = "/"
		}
		switch l {
		case "#":
			if i == 0 {
				re.WriteString(`.*`)
			} else {
				re.WriteString(`(?:/.*)?`)
			}
		case "+":
			re.WriteString(sep + `[^/]*`)
		default:
			re.WriteString(regexp.QuoteMeta(sep + l))
		}
	}
	re.WriteString(`\z`)
	return regexp.MustCompile(re.String()).MatchString(topic)
}
