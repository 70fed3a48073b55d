package clock

import (
	"strings"
	"testing"
	"time"
)

func samplesAt(offsets ...time.Duration) []sample {
	s := make([]sample, len(offsets))
	for i, o := range offsets {
		s[i] = sample{server: string(rune('a' + i)), base: epoch.Add(o), offset: o}
	}
	return s
}

// TestCombine checks the median and that one bad server among three or more cannot move it.
func TestCombine(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name     string
		offsets  []time.Duration
		want     time.Duration
		kept     int
		outliers int
		err      bool
	}{
		{"one", []time.Duration{5 * ms}, 5 * ms, 1, 0, false},
		{"two within the bound: midpoint", []time.Duration{0, 400 * ms}, 200 * ms, 2, 0, false},
		{"two beyond the bound: refused, not averaged", []time.Duration{0, 4 * time.Second}, 0, 0, 2, true},
		{"three agree: median", []time.Duration{-20 * ms, 30 * ms, 10 * ms}, 10 * ms, 3, 0, false},
		{"three, one far off", []time.Duration{0, 100 * ms, time.Hour}, 50 * ms, 2, 1, false},
		{"three, one off by 3s", []time.Duration{0, 100 * ms, 3 * time.Second}, 50 * ms, 2, 1, false},
		{"four, one far behind", []time.Duration{-time.Hour, 0, 20 * ms, 40 * ms}, 20 * ms, 3, 1, false},
		{"five, two off", []time.Duration{-time.Hour, 0, 20 * ms, 40 * ms, time.Hour}, 20 * ms, 3, 2, false},
		{"three, no majority", []time.Duration{-time.Hour, 0, time.Hour}, 0, 0, 0, true},
		{"three spread 3s apart", []time.Duration{-3 * time.Second, 0, 3 * time.Second}, 0, 0, 0, true},
		{"four split two and two", []time.Duration{-time.Hour, -time.Hour, time.Hour, time.Hour}, 0, 0, 0, true},
		{"none", nil, 0, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, kept, outliers, err := combine(samplesAt(tt.offsets...))
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if got := base.Sub(epoch); got != tt.want {
				t.Errorf("offset = %v, want %v", got, tt.want)
			}
			if len(kept) != tt.kept || len(outliers) != tt.outliers {
				t.Errorf("kept %d, outliers %d; want %d, %d", len(kept), len(outliers), tt.kept, tt.outliers)
			}
		})
	}
}

func TestParseServer(t *testing.T) {
	tests := []struct{ in, addr, err string }{
		{"time.aws.com", "time.aws.com:123", ""},
		{" pool.ntp.org ", "pool.ntp.org:123", ""},
		{"127.0.0.1:12345", "127.0.0.1:12345", ""},
		{"::1", "[::1]:123", ""},
		{"[::1]", "[::1]:123", ""},
		{"[::1]:1234", "[::1]:1234", ""},
		{"host:0", "", "port"},
		{"host:65536", "", "port"},
		{"host:ntp", "", "port"},
		{"", "", "empty"},
		{":123", "", "no host"},
		{"a:b:c", "", "host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			s, err := parseServer(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.err)
				}
				return
			}
			if err != nil || s.addr != tt.addr {
				t.Fatalf("parseServer(%q) = %q, %v; want %q", tt.in, s.addr, err, tt.addr)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	want := []time.Duration{2, 4, 8, 16, 32, 64, 128, 256, 300, 300}
	for i, w := range want {
		if got := backoff(i + 1); got != w*time.Second {
			t.Errorf("backoff(%d) = %v, want %v", i+1, got, w*time.Second)
		}
	}
	if got := backoff(1000); got != maxBackoff {
		t.Errorf("backoff(1000) = %v, want %v", got, maxBackoff)
	}
}

func TestFmtOffset(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{3200 * time.Microsecond, "+3.2ms"},
		{3214567 * time.Nanosecond, "+3.21ms"},
		{-250 * time.Microsecond, "-250µs"},
		{0, "+0s"},
		{1500 * time.Millisecond, "+1.5s"},
		{-90 * time.Minute, "-1h30m0s"},
	}
	for _, tt := range tests {
		if got := fmtOffset(tt.d); got != tt.want {
			t.Errorf("fmtOffset(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
