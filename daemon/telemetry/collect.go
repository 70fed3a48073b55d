// Package telemetry reads a Raspberry Pi's built-in health metrics from /proc, /sys and statfs(2)
// and shapes them into the JSON payload thingd publishes for each [[telemetry]] entry.
package telemetry

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Metric keys in the map returned by Collect, and so in the published payload.
const (
	KeyCPUTemp   = "cpu_temp_c" // float64, degrees Celsius
	KeyThrottled = "throttled"  // Throttled
	KeyLoad      = "load"       // Load
	KeyMemory    = "memory"     // Memory
	KeyRootFS    = "rootfs"     // Filesystem
	KeyUptime    = "uptime_s"   // float64, seconds since boot
	KeyNet       = "net"        // map[string]NetDev, by interface name
	KeyWiFi      = "wifi"       // map[string]Wireless, by interface name
)

// source is where collectors read from: a root directory standing in for "/" and a statfs.
type source struct {
	root   string
	statfs StatFS
}

// path maps an absolute system path (e.g. "/proc/loadavg") into the root.
func (s source) path(sys string) string { return filepath.Join(s.root, sys) }

// collector reads one metric. It returns a nil value and a nil error when the board lacks the
// metric (its file does not exist), so that Collect leaves the key out instead of failing.
type collector struct {
	key     string
	collect func(s source) (any, error)
}

// collectors run in this order; the order only matters for the order of errors.
var collectors = []collector{
	{KeyCPUTemp, collectThermal},
	{KeyThrottled, collectThrottled},
	{KeyLoad, collectLoadavg},
	{KeyMemory, collectMeminfo},
	{KeyRootFS, collectRootFS},
	{KeyUptime, collectUptime},
	{KeyNet, collectNetDev},
	{KeyWiFi, collectWireless},
}

// Collect reads every built-in metric below root ("/" on a device; a fixture tree in tests) and
// uses statfs for the root file system (nil means the real statfs(2)). A metric whose file is
// missing is left out; a metric whose file cannot be read or parsed is left out and reported in
// errs, and the other collectors still report.
func Collect(root string, statfs StatFS) (metrics map[string]any, errs []error) {
	if root == "" {
		root = "/"
	}
	if statfs == nil {
		statfs = SysStatFS
	}
	s := source{root: root, statfs: statfs}
	metrics = make(map[string]any, len(collectors))
	for _, c := range collectors {
		v, err := c.collect(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("telemetry %s: %w", c.key, err))
			continue
		}
		if v != nil {
			metrics[c.key] = v
		}
	}
	return metrics, errs
}

// readFile reads a system file below the root. It returns (nil, nil) when the file does not
// exist, which collectors pass on as "metric not present on this board".
func (s source) readFile(sys string) ([]byte, error) {
	b, err := os.ReadFile(s.path(sys))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.path(sys), err)
	}
	return b, nil
}

// malformed wraps a parse error so that the journal shows which file was not understood.
func (s source) malformed(sys string, err error) error {
	return fmt.Errorf("parse %s: %w (the kernel's format is not what thingd expects; please report it with the file's content)", s.path(sys), err)
}
