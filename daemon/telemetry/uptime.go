package telemetry

import (
	"fmt"
	"strconv"
	"strings"
)

func collectUptime(s source) (any, error) {
	const path = "/proc/uptime"
	b, err := s.readFile(path)
	if err != nil || b == nil {
		return nil, err
	}
	u, err := parseUptime(string(b))
	if err != nil {
		return nil, s.malformed(path, err)
	}
	return u, nil
}

// parseUptime parses "86523.41 338212.66": seconds since boot, then idle seconds summed over CPUs.
func parseUptime(s string) (float64, error) {
	f := strings.Fields(s)
	if len(f) < 1 {
		return 0, fmt.Errorf("empty file")
	}
	u, err := strconv.ParseFloat(f[0], 64)
	if err != nil || u < 0 {
		return 0, fmt.Errorf("uptime %q is not a number of seconds", f[0])
	}
	return u, nil
}
