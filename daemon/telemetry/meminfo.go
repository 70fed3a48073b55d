package telemetry

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// Memory is RAM as the kernel sees it. Available is what new work can use without swapping
// (free plus reclaimable caches), the number that matters on a Pi; "free" alone looks alarming.
type Memory struct {
	TotalBytes     uint64 `json:"total_bytes"`
	AvailableBytes uint64 `json:"available_bytes"`
}

func collectMeminfo(s source) (any, error) {
	const path = "/proc/meminfo"
	b, err := s.readFile(path)
	if err != nil || b == nil {
		return nil, err
	}
	m, err := parseMeminfo(string(b))
	if err != nil {
		return nil, s.malformed(path, err)
	}
	return m, nil
}

// parseMeminfo picks MemTotal and MemAvailable ("MemTotal:  945512 kB") out of /proc/meminfo.
func parseMeminfo(s string) (Memory, error) {
	var m Memory
	fields := []struct {
		key   string
		dst   *uint64
		found bool
	}{{key: "MemTotal", dst: &m.TotalBytes}, {key: "MemAvailable", dst: &m.AvailableBytes}}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		for i := range fields {
			f := &fields[i]
			if f.key != key {
				continue
			}
			v := strings.Fields(rest)
			if len(v) != 2 || v[1] != "kB" {
				return Memory{}, fmt.Errorf("%s: want \"<number> kB\", got %q", key, strings.TrimSpace(rest))
			}
			kb, err := strconv.ParseUint(v[0], 10, 64)
			if err != nil {
				return Memory{}, fmt.Errorf("%s: %q is not a number", key, v[0])
			}
			*f.dst, f.found = kb*1024, true
		}
	}
	for _, f := range fields {
		if !f.found {
			return Memory{}, fmt.Errorf("no %s line", f.key)
		}
	}
	return m, nil
}
