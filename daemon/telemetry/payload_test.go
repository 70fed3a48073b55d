package telemetry

import (
	"math"
	"strings"
	"testing"
	"time"
)

// TestPayloadOrder: ts (UTC) first, thing second, then metrics sorted by key, nested fields in
// declaration order; the same sample gives the same bytes every time.
func TestPayloadOrder(t *testing.T) {
	metrics := map[string]any{
		"uptime_s":   12.5,
		"cpu_temp_c": 45.464,
		"load":       Load{0.1, 0.2, 0.3},
		"net":        map[string]NetDev{"wlan0": {1, 2}, "eth0": {3, 4}},
	}
	ts := time.Date(2025, 6, 1, 21, 0, 0, 0, time.FixedZone("JST", 9*3600))
	want := `{"ts":"2025-06-01T12:00:00Z","thing":"raspi2-test","cpu_temp_c":45.464,` +
		`"load":{"1m":0.1,"5m":0.2,"15m":0.3},"net":{"eth0":{"rx_bytes":3,"tx_bytes":4},"wlan0":{"rx_bytes":1,"tx_bytes":2}},"uptime_s":12.5}`
	for i := 0; i < 20; i++ {
		got, err := Payload(ts, "raspi2-test", metrics)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Fatalf("Payload =\n%s\nwant\n%s", got, want)
		}
	}
}

func TestPayloadEmpty(t *testing.T) {
	got, err := Payload(time.Unix(0, 0), `a"b`, nil)
	if err != nil || string(got) != `{"ts":"1970-01-01T00:00:00Z","thing":"a\"b"}` {
		t.Errorf("Payload = %s, %v", got, err)
	}
}

func TestPayloadErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		metrics map[string]any
		want    string
	}{
		{"reserved ts", map[string]any{"ts": 1}, `"ts" is reserved`},
		{"reserved thing", map[string]any{"thing": "x"}, `"thing" is reserved`},
		{"NaN is not JSON", map[string]any{"cpu_temp_c": math.NaN()}, `metric "cpu_temp_c"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Payload(time.Now(), "t", tc.metrics)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
