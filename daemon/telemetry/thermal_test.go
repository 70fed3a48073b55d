package telemetry

import (
	"os"
	"path/filepath"
	"testing"
)

// TestThermalPicksCPUZone: only a zone typed cpu-thermal counts, the lowest-numbered one wins,
// and zones sort by number (thermal_zone10 after thermal_zone2).
func TestThermalPicksCPUZone(t *testing.T) {
	for _, tc := range []struct {
		name  string
		zones map[string][2]string // zone dir -> {type, temp}
		want  any
	}{
		{"only zone", map[string][2]string{"thermal_zone0": {"cpu-thermal", "45464"}}, 45.464},
		{"other zone first", map[string][2]string{
			"thermal_zone0": {"rp1_adc", "30000"},
			"thermal_zone1": {"cpu-thermal", "51000"},
		}, 51.0},
		{"numeric order", map[string][2]string{
			"thermal_zone10": {"cpu-thermal", "70000"},
			"thermal_zone2":  {"cpu-thermal", "40000"},
		}, 40.0},
		{"no cpu zone", map[string][2]string{"thermal_zone0": {"pmic", "30000"}}, nil},
		{"no zones", map[string][2]string{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "sys/class/thermal")
			if err := os.MkdirAll(filepath.Join(dir, "cooling_device0"), 0o755); err != nil {
				t.Fatal(err)
			}
			for zone, v := range tc.zones {
				writeFile(t, filepath.Join(dir, zone, "type"), v[0]+"\n")
				writeFile(t, filepath.Join(dir, zone, "temp"), v[1]+"\n")
			}
			got, err := collectThermal(source{root: root})
			if err != nil || got != tc.want {
				t.Errorf("collectThermal = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
