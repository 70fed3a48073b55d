package systemd

import (
	"slices"
	"sync"
	"time"
)

// Progress records when each long-running part of the daemon (the supervisor,
// the queue writer, the session loop) last made progress, so the watchdog can
// stop pinging as soon as any one of them is stuck. It is safe for concurrent
// use.
type Progress struct {
	// now must carry Go's monotonic reading (time.Now does): thingd steps the
	// wall clock, and a step must not make every component look stale or fresh.
	now func() time.Time

	mu   sync.Mutex
	last map[string]time.Time
}

// NewProgress registers the components the watchdog waits for, each counted
// as having made progress now, which gives it maxAge to beat for the first
// time. A nil now means time.Now.
func NewProgress(now func() time.Time, components ...string) *Progress {
	if now == nil {
		now = time.Now
	}
	p := &Progress{now: now, last: make(map[string]time.Time, len(components))}
	t := now()
	for _, c := range components {
		p.last[c] = t
	}
	return p
}

// Beat records that the component made progress. An unknown name is
// registered from here on.
func (p *Progress) Beat(component string) {
	t := p.now()
	p.mu.Lock()
	p.last[component] = t
	p.mu.Unlock()
}

// Healthy reports whether every registered component beat within maxAge.
// With no components registered it reports true.
func (p *Progress) Healthy(maxAge time.Duration) bool {
	return len(p.Stale(maxAge)) == 0
}

// Stale names, sorted, the components that have not beaten within maxAge,
// for a log line saying which part is stuck.
func (p *Progress) Stale(maxAge time.Duration) []string {
	t := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	var stale []string
	for c, last := range p.last {
		if t.Sub(last) > maxAge {
			stale = append(stale, c)
		}
	}
	slices.Sort(stale)
	return stale
}
