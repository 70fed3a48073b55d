package telemetry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// Payload builds the JSON published for one sample:
//
//	{"ts":"2025-06-01T12:00:00Z","thing":"raspi2-test","cpu_temp_c":45.464,...}
//
// ts is RFC 3339 in UTC and comes first, then thing, then the metrics sorted by key (nested
// objects keep a fixed order too), so equal samples always give equal bytes.
func Payload(ts time.Time, thing string, metrics map[string]any) ([]byte, error) {
	keys := make([]string, 0, len(metrics))
	for k := range metrics {
		if k == "ts" || k == "thing" {
			return nil, fmt.Errorf("telemetry payload: metric key %q is reserved for the envelope; rename the metric", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)

	var buf bytes.Buffer
	buf.WriteByte('{')
	field := func(k string, v any) error {
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("telemetry payload: metric %q: %w", k, err)
		}
		if buf.Len() > 1 {
			buf.WriteByte(',')
		}
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(vb)
		return nil
	}
	if err := field("ts", ts.UTC().Format(time.RFC3339)); err != nil {
		return nil, err
	}
	if err := field("thing", thing); err != nil {
		return nil, err
	}
	for _, k := range keys {
		if err := field(k, metrics[k]); err != nil {
			return nil, err
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}
