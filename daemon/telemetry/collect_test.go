package telemetry

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the collectors' output")

// boards are the fixture trees; their statfs numbers come from a fake, since a fixture tree sits
// on the test machine's disk.
var boards = []struct {
	name  string
	thing string
	fs    FSStat
}{
	// 16 GB SD card, ext4 with 5% reserved for root.
	{"pi2", "raspi2-test", FSStat{Size: 15_385_718_784, Free: 11_502_034_944, Avail: 10_719_956_992}},
	// 32 GB SD card.
	{"pi4", "raspi4-lab", FSStat{Size: 31_154_159_616, Free: 24_117_248_000, Avail: 22_524_428_288}},
}

var sampleTime = time.Date(2025, 6, 1, 21, 0, 0, 0, time.FixedZone("JST", 9*3600))

// fakeStatFS answers for root only, so a collector that statted another path fails the test.
func fakeStatFS(t *testing.T, root string, st FSStat) StatFS {
	t.Helper()
	return func(path string) (FSStat, error) {
		if path != root {
			t.Errorf("statfs(%q), want the collection root %q", path, root)
		}
		return st, nil
	}
}

// TestCollectGolden: on both boards every collector reports and the payload equals the golden file.
func TestCollectGolden(t *testing.T) {
	for _, b := range boards {
		t.Run(b.name, func(t *testing.T) {
			root := filepath.Join("testdata", b.name)
			metrics, errs := Collect(root, fakeStatFS(t, root, b.fs))
			for _, err := range errs {
				t.Errorf("Collect: %v", err)
			}
			raw, err := Payload(sampleTime, b.thing, metrics)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := json.Indent(&got, raw, "", "  "); err != nil {
				t.Fatalf("payload is not JSON: %v\n%s", err, raw)
			}
			got.WriteByte('\n')
			golden := filepath.Join("testdata", b.name+".golden.json")
			if *update {
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("payload differs from %s (go test -update rewrites it):\n got: %s\nwant: %s", golden, got.Bytes(), want)
			}
		})
	}
}

// TestBoardsDiffer: the Pi 2 has no radio, so it reports no Wi-Fi; the Pi 4 does.
func TestBoardsDiffer(t *testing.T) {
	m2, _ := Collect("testdata/pi2", fakeStatFS(t, "testdata/pi2", boards[0].fs))
	m4, _ := Collect("testdata/pi4", fakeStatFS(t, "testdata/pi4", boards[1].fs))
	if _, ok := m2[KeyWiFi]; ok {
		t.Errorf("pi2 reports %s = %v, want it left out", KeyWiFi, m2[KeyWiFi])
	}
	if w, ok := m4[KeyWiFi].(map[string]Wireless); !ok || w["wlan0"].LevelDBm != -52 {
		t.Errorf("pi4 %s = %#v, want wlan0 at -52 dBm", KeyWiFi, m4[KeyWiFi])
	}
	if n := m2[KeyNet].(map[string]NetDev); len(n) != 1 {
		t.Errorf("pi2 interfaces = %v, want eth0 only (lo is left out)", n)
	}
}

// files each collector reads, relative to the root; rootfs reads none (it uses statfs).
var collectorFiles = map[string][]string{
	KeyCPUTemp:   {"sys/class/thermal/thermal_zone0/temp"},
	KeyThrottled: {"sys/devices/platform/soc/soc:firmware/get_throttled"},
	KeyLoad:      {"proc/loadavg"},
	KeyMemory:    {"proc/meminfo"},
	KeyRootFS:    nil,
	KeyUptime:    {"proc/uptime"},
	KeyNet:       {"proc/net/dev"},
	KeyWiFi:      {"proc/net/wireless"},
}

// TestMissingMetricOmitted: removing one collector's file leaves out that key only, with no error.
func TestMissingMetricOmitted(t *testing.T) {
	for _, key := range allKeys() {
		t.Run(key, func(t *testing.T) {
			root := copyTree(t, "testdata/pi4")
			statfs := fakeStatFS(t, root, boards[1].fs)
			for _, f := range collectorFiles[key] {
				if err := os.Remove(filepath.Join(root, f)); err != nil {
					t.Fatal(err)
				}
			}
			if key == KeyRootFS {
				statfs = func(path string) (FSStat, error) {
					return FSStat{}, &fs.PathError{Op: "statfs", Path: path, Err: fs.ErrNotExist}
				}
			}
			metrics, errs := Collect(root, statfs)
			if len(errs) != 0 {
				t.Errorf("errors %v, want none: a missing metric is not an error", errs)
			}
			assertOnlyMissing(t, metrics, key)
		})
	}
}

// TestMalformedFileErrorsOnlyThatCollector: garbage in one file yields one error naming the
// file, and every other collector still reports.
func TestMalformedFileErrorsOnlyThatCollector(t *testing.T) {
	for _, key := range allKeys() {
		t.Run(key, func(t *testing.T) {
			root := copyTree(t, "testdata/pi4")
			statfs := fakeStatFS(t, root, boards[1].fs)
			for _, f := range collectorFiles[key] {
				if err := os.WriteFile(filepath.Join(root, f), []byte("garbage\nmore garbage\n\x00\x01\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			wantInErr := key
			if key == KeyRootFS {
				statfs = func(string) (FSStat, error) { return FSStat{Size: 1, Free: 2, Avail: 3}, nil }
			} else {
				wantInErr = filepath.Join(root, collectorFiles[key][0])
			}
			metrics, errs := Collect(root, statfs)
			if len(errs) != 1 {
				t.Fatalf("errors %v, want exactly one, from %s", errs, key)
			}
			if msg := errs[0].Error(); !strings.Contains(msg, wantInErr) || !strings.HasPrefix(msg, "telemetry "+key+":") {
				t.Errorf("error %q does not name the collector %s and %s", msg, key, wantInErr)
			}
			assertOnlyMissing(t, metrics, key)
		})
	}
}

// TestUnreadableIsAnError: a file that exists but cannot be read is reported, not taken for absent.
func TestUnreadableIsAnError(t *testing.T) {
	root := copyTree(t, "testdata/pi4")
	// A directory where the file should be makes read fail with EISDIR, even when run as root.
	p := filepath.Join(root, "proc/loadavg")
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	metrics, errs := Collect(root, fakeStatFS(t, root, boards[1].fs))
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), p) {
		t.Fatalf("errors %v, want one naming %s", errs, p)
	}
	assertOnlyMissing(t, metrics, KeyLoad)
}

func allKeys() []string {
	keys := make([]string, 0, len(collectorFiles))
	for k := range collectorFiles {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func assertOnlyMissing(t *testing.T, metrics map[string]any, missing string) {
	t.Helper()
	for _, k := range allKeys() {
		_, ok := metrics[k]
		if k == missing && ok {
			t.Errorf("%s = %v, want it left out", k, metrics[k])
		}
		if k != missing && !ok {
			t.Errorf("%s is missing; other collectors must still report", k)
		}
	}
	if len(metrics) != len(collectorFiles)-1 {
		t.Errorf("got keys %v, want every key but %s", keysOf(metrics), missing)
	}
}

func keysOf(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// copyTree copies a fixture tree into a temporary directory the test may change.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
	return dst
}

func ExampleCollect() {
	metrics, errs := Collect("testdata/pi4", func(string) (FSStat, error) {
		return FSStat{Size: 100, Free: 40, Avail: 30}, nil
	})
	fmt.Println(len(errs), metrics[KeyCPUTemp], metrics[KeyRootFS])
	// Output: 0 52.095 {100 60 30 66.7}
}
