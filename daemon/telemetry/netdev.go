package telemetry

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// NetDev is the traffic an interface has carried since boot (or since the driver was loaded).
type NetDev struct {
	RxBytes uint64 `json:"rx_bytes"`
	TxBytes uint64 `json:"tx_bytes"`
}

func collectNetDev(s source) (any, error) {
	const path = "/proc/net/dev"
	b, err := s.readFile(path)
	if err != nil || b == nil {
		return nil, err
	}
	n, err := parseNetDev(string(b))
	if err != nil {
		return nil, s.malformed(path, err)
	}
	if len(n) == 0 {
		return nil, nil
	}
	return n, nil
}

// parseNetDev parses /proc/net/dev: two header lines, then "iface: 8 receive and 8 transmit
// counters". Loopback is left out: its traffic never leaves the board.
func parseNetDev(s string) (map[string]NetDev, error) {
	out := map[string]NetDev{}
	err := interfaceRows(s, "counters", func(line int, name string, f []string) error {
		if len(f) != 16 {
			return fmt.Errorf("line %d (%s): want 16 counters, got %d", line, name, len(f))
		}
		rx, err1 := strconv.ParseUint(f[0], 10, 64)
		tx, err2 := strconv.ParseUint(f[8], 10, 64)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("line %d (%s): byte counters %q and %q are not both numbers", line, name, f[0], f[8])
		}
		if name != "lo" {
			out[name] = NetDev{RxBytes: rx, TxBytes: tx}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// interfaceRows walks the per-interface tables of /proc/net/dev and /proc/net/wireless:
// two header lines, then one "name: fields..." line per interface.
func interfaceRows(s, what string, row func(line int, name string, fields []string) error) error {
	sc := bufio.NewScanner(strings.NewReader(s))
	for line := 1; sc.Scan(); line++ {
		if line <= 2 {
			continue
		}
		name, rest, ok := strings.Cut(sc.Text(), ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return fmt.Errorf("line %d: want \"interface: %s\", got %q", line, what, sc.Text())
		}
		if err := row(line, name, strings.Fields(rest)); err != nil {
			return err
		}
	}
	return nil
}
