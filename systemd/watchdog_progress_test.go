package systemd

import (
	"slices"
	"testing"
	"time"
)

// fakeClock is a hand-moved clock for Progress.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// TestProgress checks Healthy turns false when any registered component
// stops beating for longer than maxAge, and true again when it beats.
func TestProgress(t *testing.T) {
	const maxAge = time.Minute
	type step struct {
		advance   time.Duration
		beat      []string
		wantStale []string
	}
	tests := []struct {
		name       string
		components []string
		steps      []step
	}{
		{"nothing registered", nil, []step{{advance: time.Hour}}},
		{"start-up grace", []string{"queue", "session"}, []step{
			{advance: maxAge},
			{advance: time.Second, wantStale: []string{"queue", "session"}},
		}},
		{"one component stuck", []string{"queue", "session", "supervisor"}, []step{
			{advance: 40 * time.Second, beat: []string{"queue", "supervisor"}},
			{advance: 40 * time.Second, beat: []string{"queue", "supervisor"}, wantStale: []string{"session"}},
			{beat: []string{"session"}},
		}},
		{"beat registers an unknown name", []string{"queue"}, []step{
			{beat: []string{"late"}},
			{advance: 2 * maxAge, wantStale: []string{"late", "queue"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
			p := NewProgress(clock.now, tt.components...)
			for i, s := range tt.steps {
				clock.advance(s.advance)
				for _, c := range s.beat {
					p.Beat(c)
				}
				if got := p.Stale(maxAge); !slices.Equal(got, s.wantStale) {
					t.Fatalf("step %d: Stale = %q, want %q", i, got, s.wantStale)
				}
				if got, want := p.Healthy(maxAge), len(s.wantStale) == 0; got != want {
					t.Fatalf("step %d: Healthy = %v, want %v", i, got, want)
				}
			}
		})
	}
}
