package session

import (
	"fmt"
	"strings"
)

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
