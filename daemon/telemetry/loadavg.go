package telemetry

import (
	"fmt"
	"strconv"
	"strings"
)

// Load is the kernel's run-queue load average over 1, 5 and 15 minutes.
type Load struct {
	Load1  float64 `json:"1m"`
	Load5  float64 `json:"5m"`
	Load15 float64 `json:"15m"`
}

func collectLoadavg(s source) (any, error) {
	const path = "/proc/loadavg"
	b, err := s.readFile(path)
	if err != nil || b == nil {
		return nil, err
	}
	l, err := parseLoadavg(string(b))
	if err != nil {
		return nil, s.malformed(path, err)
	}
	return l, nil
}

// parseLoadavg parses "0.42 0.31 0.27 1/131 2274".
func parseLoadavg(s string) (Load, error) {
	f := strings.Fields(s)
	if len(f) < 3 {
		return Load{}, fmt.Errorf("want 3 load averages, got %q", strings.TrimSpace(s))
	}
	var v [3]float64
	for i := range v {
		x, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return Load{}, fmt.Errorf("load average %d: %q is not a number", i+1, f[i])
		}
		v[i] = x
	}
	return Load{Load1: v[0], Load5: v[1], Load15: v[2]}, nil
}
