package limits

import (
	"strings"
	"unicode/utf8"
)

// Match reports whether an MQTT topic filter matches a topic name (MQTT 3.1.1 section 4.7):
// "+" matches exactly one level, "#" as the last level matches its parent level and everything
// below it, and filters starting with a wildcard do not match topics starting with "$" (such as
// "$aws/things/..."). An invalid filter ("a/#/b", "a+", "") or a topic containing a wildcard
// matches nothing, and so does anything that is not a valid MQTT string (well-formed UTF-8
// without U+0000).
func Match(filter, topic string) bool {
	if filter == "" || topic == "" || strings.ContainsAny(topic, "+#") || !mqttString(filter) || !mqttString(topic) {
		return false
	}
	if topic[0] == '$' && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		f, frest, fmore := strings.Cut(filter, "/")
		if f == "#" {
			return !fmore
		}
		if f != "+" && strings.ContainsAny(f, "+#") {
			return false
		}
		t, trest, tmore := strings.Cut(topic, "/")
		if f != "+" && f != t {
			return false
		}
		switch {
		case !fmore && !tmore:
			return true
		case !tmore:
			// "sport/#" matches "sport": the topic ended, only a final "#" may remain.
			return frest == "#"
		case !fmore:
			return false
		}
		filter, topic = frest, trest
	}
}

// mqttString reports whether s may appear in an MQTT packet (MQTT 3.1.1 section 1.5.3).
func mqttString(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}
