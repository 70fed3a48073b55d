package telemetry

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"
)

// cpuThermalType is the thermal zone type of the SoC sensor on Raspberry Pi kernels
// (bcm2835_thermal on Pi 1-3, brcmstb_thermal on Pi 4; the name comes from the device tree node).
const cpuThermalType = "cpu-thermal"

const thermalDir = "/sys/class/thermal"

// collectThermal reports the lowest-numbered thermal zone whose type is cpu-thermal; other zones
// (PMICs, add-on boards) do not measure the CPU and are ignored.
func collectThermal(s source) (any, error) {
	entries, err := os.ReadDir(s.path(thermalDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", s.path(thermalDir), err)
	}
	for _, zone := range thermalZones(entries) {
		typ, err := s.readFile(thermalDir + "/" + zone + "/type")
		if err != nil {
			return nil, err
		}
		if strings.TrimSpace(string(typ)) != cpuThermalType {
			continue
		}
		path := thermalDir + "/" + zone + "/temp"
		b, err := s.readFile(path)
		if err != nil || b == nil {
			return nil, err
		}
		c, err := parseMilliCelsius(string(b))
		if err != nil {
			return nil, s.malformed(path, err)
		}
		return c, nil
	}
	return nil, nil
}

// thermalZones returns the thermal_zoneN names ordered by N, so thermal_zone10 follows thermal_zone2.
func thermalZones(entries []fs.DirEntry) []string {
	type zone struct {
		name string
		n    int
	}
	var zs []zone
	for _, e := range entries {
		n, err := strconv.Atoi(strings.TrimPrefix(e.Name(), "thermal_zone"))
		if err == nil && strings.HasPrefix(e.Name(), "thermal_zone") {
			zs = append(zs, zone{e.Name(), n})
		}
	}
	sort.Slice(zs, func(i, j int) bool { return zs[i].n < zs[j].n })
	names := make([]string, len(zs))
	for i, z := range zs {
		names[i] = z.name
	}
	return names
}

// parseMilliCelsius parses a thermal zone's temp file ("45464\n" = 45.464 °C).
func parseMilliCelsius(s string) (float64, error) {
	s = strings.TrimSpace(s)
	m, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("want millidegrees Celsius as an integer, got %q", s)
	}
	return float64(m) / 1000, nil
}
