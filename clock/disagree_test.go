package clock

import (
	"strings"
	"testing"
	"time"
)

// TestTwoServersDisagreeNotAveraged: two servers an hour apart give an error naming both,
// not their midpoint, which neither said.
func TestTwoServersDisagreeNotAveraged(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	a := sample{server: "a", base: t0}
	b := sample{server: "b", base: t0.Add(time.Hour), offset: time.Hour}
	base, _, _, err := combine([]sample{a, b})
	if err == nil || !strings.Contains(err.Error(), "disagree") || !strings.Contains(err.Error(), "a ") || !strings.Contains(err.Error(), "b ") {
		t.Fatalf("combine gave %v, %v; want an error naming both servers", base, err)
	}
	if base, _, _, err := combine([]sample{a, {server: "b", base: t0.Add(maxDisagreement / 2)}}); err != nil || base.IsZero() {
		t.Fatalf("two servers within the bound: %v, %v", base, err)
	}
}
