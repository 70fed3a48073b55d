package session

import (
	"testing"
	"time"
)

// Three drops in a row within 10s of CONNACK are reported once; a stable connection re-arms
// the report, a medium one only breaks the streak.
func TestFlapDetector(t *testing.T) {
	s := time.Second
	tests := []struct {
		name   string
		lasted []time.Duration
		want   []bool
	}{
		{"three quick drops", []time.Duration{1 * s, 2 * s, 3 * s}, []bool{false, false, true}},
		{"reported once", []time.Duration{1 * s, 1 * s, 1 * s, 1 * s, 1 * s, 1 * s}, []bool{false, false, true, false, false, false}},
		{"medium breaks the streak", []time.Duration{1 * s, 1 * s, 15 * s, 1 * s, 1 * s, 1 * s}, []bool{false, false, false, false, false, true}},
		{"medium does not re-arm", []time.Duration{1 * s, 1 * s, 1 * s, 15 * s, 1 * s, 1 * s, 1 * s}, []bool{false, false, true, false, false, false, false}},
		{"stable re-arms", []time.Duration{1 * s, 1 * s, 1 * s, 40 * s, 1 * s, 1 * s, 1 * s}, []bool{false, false, true, false, false, false, true}},
		{"slow drops never", []time.Duration{12 * s, 11 * s, 10 * s}, []bool{false, false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFlapDetector(30 * time.Second)
			for i, l := range tt.lasted {
				if got := f.dropped(l); got != tt.want[i] {
					t.Fatalf("drop %d after %v: report=%v, want %v", i+1, l, got, tt.want[i])
				}
			}
		})
	}
}
