package session

import (
	"fmt"
	"strings"
)

// matchTopic reports whether an MQTT topic filter matches a topic name (MQTT 3.1.1 section
// 4.7). Every inbound message goes through our own matcher, not paho's routes, so one
// message that matches several subscriptions is acknowledged once, after all of them.
func matchTopic(filter, topic string) bool {
	// [MQTT-4.7.2-1]: wildcards at the first level do not match topics starting with '$'.
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return true
		}
		tl, trest, tmore := strings.Cut(topic, "/")
		if fl != "+" && fl != tl {
			return false
		}
		switch {
		case !fmore && !tmore:
			return true
		case !tmore:
			// "a/#" matches "a" too: the '#' level may be empty.
			return frest == "#"
		case !fmore:
			return false
		}
		filter, topic = frest, trest
	}
}

// validFilter rejects filters the broker would refuse, before we ever send them.
func validFilter(filter string) error {
	levels := strings.Split(filter, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return fmt.Errorf("topic filter %q: '#' must be a whole level and the last one", filter)
		}
		if strings.Contains(l, "+") && l != "+" {
			return fmt.Errorf("topic filter %q: '+' must be a whole level", filter)
		}
	}
	return nil
}
