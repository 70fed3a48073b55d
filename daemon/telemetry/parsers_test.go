package telemetry

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseMilliCelsius(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    float64
		wantErr bool
	}{
		{"45464\n", 45.464, false},
		{"-2154\n", -2.154, false},
		{"0", 0, false},
		{"", 0, true},
		{"45.4\n", 0, true},
		{"N/A\n", 0, true},
	} {
		t.Run(strings.TrimSpace(tc.in), func(t *testing.T) {
			got, err := parseMilliCelsius(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("parseMilliCelsius(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestParseThrottled(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Throttled
		wantErr bool
	}{
		{"0\n", Throttled{Raw: "0x0"}, false},
		{"50005\n", Throttled{Raw: "0x50005", UnderVoltage: true, Throttled: true, UnderVoltageOccurred: true, ThrottledOccurred: true}, false},
		{"80008\n", Throttled{Raw: "0x80008", SoftTempLimit: true, SoftTempLimitOccurred: true}, false},
		{"0x20002", Throttled{Raw: "0x20002", ArmFreqCapped: true, ArmFreqCappedOccurred: true}, false},
		{"f000f", Throttled{Raw: "0xf000f", UnderVoltage: true, ArmFreqCapped: true, Throttled: true, SoftTempLimit: true,
			UnderVoltageOccurred: true, ArmFreqCappedOccurred: true, ThrottledOccurred: true, SoftTempLimitOccurred: true}, false},
		{"throttled=0x0\n", Throttled{}, true},
		{"", Throttled{}, true},
		{"123456789\n", Throttled{}, true}, // wider than the 32-bit mask
	} {
		t.Run(strings.TrimSpace(tc.in), func(t *testing.T) {
			got, err := parseThrottled(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("parseThrottled(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestParseLoadavg(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Load
		wantErr bool
	}{
		{"0.42 0.31 0.27 1/131 2274\n", Load{0.42, 0.31, 0.27}, false},
		{"12.00 8.50 4.25\n", Load{12, 8.5, 4.25}, false},
		{"0.42 0.31\n", Load{}, true},
		{"0.42 x 0.27 1/131 2274\n", Load{}, true},
		{"", Load{}, true},
	} {
		t.Run(strings.TrimSpace(tc.in), func(t *testing.T) {
			got, err := parseLoadavg(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("parseLoadavg(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestParseMeminfo(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    Memory
		wantErr string
	}{
		{"both", "MemTotal:  945512 kB\nMemFree: 1 kB\nMemAvailable:   801436 kB\n", Memory{945512 * 1024, 801436 * 1024}, ""},
		{"order does not matter", "MemAvailable: 2 kB\nMemTotal: 3 kB\n", Memory{3 * 1024, 2 * 1024}, ""},
		{"no MemAvailable (kernel < 3.14)", "MemTotal: 3 kB\nMemFree: 1 kB\n", Memory{}, "no MemAvailable line"},
		{"empty", "", Memory{}, "no MemTotal line"},
		{"no unit", "MemTotal: 3\nMemAvailable: 2 kB\n", Memory{}, "MemTotal"},
		{"not a number", "MemTotal: many kB\nMemAvailable: 2 kB\n", Memory{}, "MemTotal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseMeminfo(tc.in)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("parseMeminfo error = %v, want %q", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("parseMeminfo = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseUptime(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    float64
		wantErr bool
	}{
		{"86523.41 338212.66\n", 86523.41, false},
		{"5.00\n", 5, false},
		{"\n", 0, true},
		{"-1.0 2.0\n", 0, true},
		{"up 3 days\n", 0, true},
	} {
		t.Run(strings.TrimSpace(tc.in), func(t *testing.T) {
			got, err := parseUptime(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("parseUptime(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

const netdevHeader = "Inter-|   Receive                                                |  Transmit\n" +
	" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"

func TestParseNetDev(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    map[string]NetDev
		wantErr bool
	}{
		{"lo left out", netdevHeader +
			"    lo:    8216      96    0    0    0     0          0         0     8216      96    0    0    0     0       0          0\n" +
			"  eth0: 58432671  221409    0    0    0     0          0      3012 12684530   95224    0    0    0     0       0          0\n",
			map[string]NetDev{"eth0": {58432671, 12684530}}, false},
		// Kernels before 3.x glued large counters to the colon.
		{"glued colon", netdevHeader +
			"  eth0:4294967296 1 0 0 0 0 0 0 18446744073709551615 1 0 0 0 0 0 0\n",
			map[string]NetDev{"eth0": {4294967296, 18446744073709551615}}, false},
		{"headers only", netdevHeader, map[string]NetDev{}, false},
		{"short line", netdevHeader + "  eth0: 1 2 3\n", nil, true},
		{"no colon", netdevHeader + "  eth0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n", nil, true},
		{"counter overflow", netdevHeader + "  eth0: 18446744073709551616 1 0 0 0 0 0 0 1 1 0 0 0 0 0 0\n", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseNetDev(tc.in)
			if (err != nil) != tc.wantErr || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseNetDev = %v, %v; want %v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

const wirelessHeader = "Inter-| sta-|   Quality        |   Discarded packets               | Missed | WE\n" +
	" face | tus | link level noise |  nwid  crypt   frag  retry   misc | beacon | 22\n"

func TestParseWireless(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    map[string]Wireless
		wantErr bool
	}{
		{"updated values", wirelessHeader + " wlan0: 0000   58.  -52.  -256        0      0      0      0     27        0\n",
			map[string]Wireless{"wlan0": {58, -52}}, false},
		{"stale values have no dot", wirelessHeader + " wlan0: 0000   70   -40   -256        0      0      0      0      0        0\n",
			map[string]Wireless{"wlan0": {70, -40}}, false},
		{"headers only: stack loaded, no radio", wirelessHeader, map[string]Wireless{}, false},
		{"truncated", wirelessHeader + " wlan0: 0000   58.\n", nil, true},
		{"not numbers", wirelessHeader + " wlan0: 0000   good  strong  -256\n", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseWireless(tc.in)
			if (err != nil) != tc.wantErr || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseWireless = %v, %v; want %v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestFSUsage(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      FSStat
		want    Filesystem
		wantErr bool
	}{
		// df: used 600, avail 300 => Use% = 600/900 = 66.7 (the reserved 100 bytes do not count).
		{"reserved blocks", FSStat{Size: 1000, Free: 400, Avail: 300}, Filesystem{1000, 600, 300, 66.7}, false},
		{"empty fs", FSStat{Size: 1000, Free: 1000, Avail: 1000}, Filesystem{1000, 0, 1000, 0}, false},
		{"full for users", FSStat{Size: 1000, Free: 50, Avail: 0}, Filesystem{1000, 950, 0, 100}, false},
		{"zero size (pseudo fs)", FSStat{}, Filesystem{}, false},
		{"free > size", FSStat{Size: 1, Free: 2, Avail: 0}, Filesystem{}, true},
		{"avail > free", FSStat{Size: 10, Free: 2, Avail: 3}, Filesystem{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fsUsage(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("fsUsage(%+v) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// TestSysStatFS: the real statfs reports a consistent, non-empty file system for "/".
func TestSysStatFS(t *testing.T) {
	st, err := SysStatFS("/")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fsUsage(st); err != nil || st.Size == 0 {
		t.Errorf("SysStatFS(/) = %+v, %v", st, err)
	}
	if _, err := SysStatFS("/does/not/exist"); err == nil || !strings.Contains(err.Error(), "/does/not/exist") {
		t.Errorf("SysStatFS on a missing path: err = %v, want one naming the path", err)
	}
}
