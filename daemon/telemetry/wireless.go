package telemetry

import (
	"fmt"
	"strconv"
	"strings"
)

// Wireless is a Wi-Fi interface's link as the driver reports it. Link is the driver's quality
// score (brcmfmac on the Pi counts up to 70); LevelDBm is the received signal strength.
type Wireless struct {
	Link     float64 `json:"link"`
	LevelDBm float64 `json:"level_dbm"`
}

func collectWireless(s source) (any, error) {
	const path = "/proc/net/wireless"
	b, err := s.readFile(path)
	if err != nil || b == nil {
		return nil, err
	}
	w, err := parseWireless(string(b))
	if err != nil {
		return nil, s.malformed(path, err)
	}
	if len(w) == 0 {
		return nil, nil
	}
	return w, nil
}

// parseWireless parses /proc/net/wireless: two header lines, then
// "wlan0: 0000   58.  -52.  -256  ..." where a trailing '.' marks a value updated since the
// last read. A board with a Wi-Fi stack but no radio has the headers only.
func parseWireless(s string) (map[string]Wireless, error) {
	out := map[string]Wireless{}
	err := interfaceRows(s, "status link level noise ...", func(line int, name string, f []string) error {
		if len(f) < 3 {
			return fmt.Errorf("line %d (%s): want status, link and level, got %q", line, name, strings.Join(f, " "))
		}
		link, err1 := strconv.ParseFloat(strings.TrimSuffix(f[1], "."), 64)
		level, err2 := strconv.ParseFloat(strings.TrimSuffix(f[2], "."), 64)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("line %d (%s): link %q and level %q are not both numbers", line, name, f[1], f[2])
		}
		out[name] = Wireless{Link: link, LevelDBm: level}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
