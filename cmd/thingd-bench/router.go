package main

import (
	"sync"
	"time"
)

// router hands each message the benchmark subscriber receives to the tally of its topic;
// every measurement publishes on a topic of its own.
type router struct {
	mu    sync.Mutex
	tally map[string]*tally
	stray int
}

func newRouter() *router { return &router{tally: map[string]*tally{}} }

// expect registers the tally for topic before anything is published on it.
func (r *router) expect(topic string, want int) *tally {
	t := newTally(want)
	r.mu.Lock()
	r.tally[topic] = t
	r.mu.Unlock()
	return t
}

func (r *router) handle(topic string, payload []byte, at time.Time) {
	r.mu.Lock()
	t := r.tally[topic]
	if t == nil {
		r.stray++
	}
	r.mu.Unlock()
	if t != nil {
		t.add(payload, at)
	}
}
