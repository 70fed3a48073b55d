package telemetry

import (
	"fmt"
	"strconv"
	"strings"
)

// throttledPath is the firmware driver's copy of "vcgencmd get_throttled" (kernel 4.19 and later).
const throttledPath = "/sys/devices/platform/soc/soc:firmware/get_throttled"

// Throttled decodes the Pi firmware's get_throttled bitmask. The first four flags describe the
// state right now, the *Occurred ones whether it happened at any time since boot: an
// under-voltage that comes and goes between two samples still shows up.
type Throttled struct {
	Raw                   string `json:"raw"` // as vcgencmd prints it, e.g. "0x50005"
	UnderVoltage          bool   `json:"under_voltage"`
	ArmFreqCapped         bool   `json:"arm_freq_capped"`
	Throttled             bool   `json:"throttled"`
	SoftTempLimit         bool   `json:"soft_temp_limit"`
	UnderVoltageOccurred  bool   `json:"under_voltage_occurred"`
	ArmFreqCappedOccurred bool   `json:"arm_freq_capped_occurred"`
	ThrottledOccurred     bool   `json:"throttled_occurred"`
	SoftTempLimitOccurred bool   `json:"soft_temp_limit_occurred"`
}

func collectThrottled(s source) (any, error) {
	b, err := s.readFile(throttledPath)
	if err != nil || b == nil {
		return nil, err
	}
	t, err := parseThrottled(string(b))
	if err != nil {
		return nil, s.malformed(throttledPath, err)
	}
	return t, nil
}

// parseThrottled parses the sysfs file, which holds the mask in hex without "0x" ("50005\n").
func parseThrottled(s string) (Throttled, error) {
	s = strings.TrimSpace(s)
	v, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 32)
	if err != nil {
		return Throttled{}, fmt.Errorf("want a hexadecimal bitmask, got %q", s)
	}
	bit := func(n uint) bool { return v&(1<<n) != 0 }
	return Throttled{
		Raw:                   fmt.Sprintf("0x%x", v),
		UnderVoltage:          bit(0),
		ArmFreqCapped:         bit(1),
		Throttled:             bit(2),
		SoftTempLimit:         bit(3),
		UnderVoltageOccurred:  bit(16),
		ArmFreqCappedOccurred: bit(17),
		ThrottledOccurred:     bit(18),
		SoftTempLimitOccurred: bit(19),
	}, nil
}
