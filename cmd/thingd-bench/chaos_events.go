package main

import (
	"context"
	"fmt"
	"time"
)

const (
	eventKill    = "SIGKILL thingd"
	eventRestart = "restart broker"
	eventCut     = "cut network"
)

// event is one fault the chaos run injected.
type event struct {
	kind    string
	at, end time.Time // injected, and over (daemon READY, broker accepting, gate open)
	down    time.Duration
	dups    int // duplicate deliveries that arrived after it and before the next event
	// ahead, for a SIGKILL, are the messages acknowledged ahead of the queue's durable head
	// just before it (thingd's status): the restarted daemon publishes them again.
	ahead      int
	sinceStart time.Duration
}

// schedule spreads the events over the middle 80 % of the run: one slot each, at a random
// moment within the slot, in random order.
func (ch *chaos) schedule() []event {
	var kinds []string
	for i := 0; i < ch.c.kills; i++ {
		kinds = append(kinds, eventKill)
	}
	for i := 0; i < ch.c.restarts; i++ {
		kinds = append(kinds, eventRestart)
	}
	for i := 0; i < ch.c.cuts; i++ {
		kinds = append(kinds, eventCut)
	}
	for i := 0; i < ch.c.denies; i++ {
		kinds = append(kinds, eventDeny)
	}
	ch.rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	out := make([]event, len(kinds))
	if len(kinds) == 0 {
		return out
	}
	slot := ch.c.duration * 8 / 10 / time.Duration(len(kinds))
	for i, k := range kinds {
		out[i] = event{kind: k, sinceStart: ch.c.duration/10 + time.Duration(i)*slot + time.Duration(ch.rng.Int64N(int64(slot)*3/4))}
	}
	return out
}

// runEvents injects the scheduled faults one after the other.
func (ch *chaos) runEvents(ctx context.Context, start time.Time) error {
	for _, e := range ch.schedule() {
		if err := sleepUntil(ctx, start.Add(e.sinceStart)); err != nil {
			return err
		}
		e.at = time.Now()
		var err error
		switch e.kind {
		case eventKill:
			e.down = time.Duration(ch.rng.IntN(500)) * time.Millisecond
			if st, serr := readStatus(ch.setup.socket); serr == nil {
				e.ahead = int(st.Queue.AckedAhead)
			}
			err = ch.killDaemon(e.down)
		case eventRestart:
			e.down = time.Duration(500+ch.rng.IntN(1500)) * time.Millisecond
			err = ch.l.restartBroker(ch.broker, e.down)
		case eventCut:
			e.down = time.Duration(1000+ch.rng.IntN(3000)) * time.Millisecond
			ch.gate.cut()
			time.Sleep(e.down)
			err = ch.gate.open()
		case eventDeny:
			err = ch.deny(ctx)
		}
		e.end = time.Now()
		ch.mu.Lock()
		ch.events = append(ch.events, e)
		ch.mu.Unlock()
		if err != nil {
			return fmt.Errorf("%s at %v: %w", e.kind, e.at.Sub(start).Round(time.Millisecond), err)
		}
		ch.l.logf("%s (down %v, back after %v)", e.kind, e.down, e.end.Sub(e.at).Round(time.Millisecond))
	}
	return nil
}

// killDaemon is SIGKILL, a pause, and a new `thingd run` on the same queue.
func (ch *chaos) killDaemon(down time.Duration) error {
	ch.daemon().kill9()
	time.Sleep(down)
	d, err := ch.l.startThingd(ch.setup)
	if err != nil {
		return err
	}
	ch.setDaemon(d)
	return nil
}
