package main

import (
	"fmt"
	"time"
)

// bigRun is one run of thingd with the large backlog.
type bigRun struct {
	costSmall, costBig []time.Duration // ingest cost per message at a small and the large depth
	ingest             float64         // msg/s of the large ingest
	ingestIO           ioCounters
	queued             memory // after the large ingest
	restart            memory // after a restart with it queued
	ready              time.Duration
	drain              memory // at the end of the drain
	drainPeak          int64
	drainRate          float64
	windows            []time.Duration // each window of `small` first arrivals
	dups               int
}

// bigThingd: thingd with a large backlog, runs times. Ingest-cost samples at a small depth,
// the large ingest (memory with it queued), samples at the large depth, then a restart
// pointed at the broker and the whole backlog drained (start-up time, peak memory, drain
// cost by depth).
func (b *bench) bigThingd() error {
	for i := 0; i < b.c.runs; i++ {
		r, err := b.bigThingdOnce(i)
		if err != nil {
			return err
		}
		b.r.big = append(b.r.big, r)
	}
	return nil
}

func (b *bench) bigThingdOnce(run int) (bigRun, error) {
	c := b.c
	var r bigRun
	topic := fmt.Sprintf("bench/big/thingd-%d", run)
	total := c.small + 2*c.runs*c.costBatch + c.big
	t := b.router.expect(topic, total)
	s, err := b.l.newThingd("big", b.closed, "")
	if err != nil {
		return r, err
	}
	d, err := b.l.startThingd(s)
	if err != nil {
		return r, err
	}
	next := 0
	costs := func() ([]time.Duration, error) {
		var out []time.Duration
		for i := 0; i < c.runs; i++ {
			took, err := streamLines(b.ctx, s.socket, topic, next, next+c.costBatch, c.size)
			if err != nil {
				return nil, err
			}
			next += c.costBatch
			out = append(out, took/time.Duration(c.costBatch))
		}
		return out, nil
	}
	small, err := b.lines(0, c.small)
	if err != nil {
		return r, err
	}
	if _, err := b.pubFile(s.socket, topic, small); err != nil {
		return r, err
	}
	next = c.small
	if r.costSmall, err = costs(); err != nil {
		return r, err
	}
	big, err := b.lines(next, next+c.big)
	if err != nil {
		return r, err
	}
	next += c.big
	before, err := readIO(d.PID())
	if err != nil {
		return r, err
	}
	took, err := b.pubFile(s.socket, topic, big)
	if err != nil {
		return r, err
	}
	after, err := readIO(d.PID())
	if err != nil {
		return r, err
	}
	r.ingest, r.ingestIO = float64(c.big)/took.Seconds(), after.sub(before)
	if r.queued, err = readMemory(d.PID()); err != nil {
		return r, err
	}
	b.l.logf("ingested %d in %v (%.0f msg/s); %s", c.big, took.Round(time.Millisecond), r.ingest, r.queued)
	if r.costBig, err = costs(); err != nil {
		return r, err
	}
	b.l.logf("ingest cost: %v per message at depth %d, %v at depth %d", medianDuration(r.costSmall), c.small, medianDuration(r.costBig), c.big)
	if err := d.stopGracefully(); err != nil {
		return r, err
	}

	// What the backlog itself costs: a fresh daemon holding it, idle for 5 s.
	if d, err = b.l.startThingd(s); err != nil {
		return r, err
	}
	r.ready = d.ready
	time.Sleep(5 * time.Second)
	if r.restart, err = readMemory(d.PID()); err != nil {
		return r, err
	}
	b.l.logf("restarted with %d queued: READY after %v; 5 s later %s", total, d.ready, r.restart)
	if err := d.stopGracefully(); err != nil {
		return r, err
	}

	if err := s.repoint(b.broker.Port); err != nil {
		return r, err
	}
	if d, err = b.l.startThingd(s); err != nil {
		return r, err
	}
	peak := sampleMemory(d.PID())
	if err := t.wait(b.ctx, 60*time.Second); err != nil {
		peak()
		d.kill9()
		return r, fmt.Errorf("thingd drain of the large backlog: %w", err)
	}
	r.drainPeak = peak()
	if r.drain, err = readMemory(d.PID()); err != nil {
		return r, err
	}
	r.drainRate, r.windows, r.dups = t.rate(), t.windows(c.small), t.dups
	b.l.logf("drained %d at %.0f msg/s; peak RSS %.1f MiB; now %s", total, r.drainRate, mib(r.drainPeak), r.drain)
	return r, d.stopGracefully()
}

// bridgeBigRun is one run of the bridging mosquitto with the large backlog.
type bridgeBigRun struct {
	idle, queued, drain memory
	drainPeak           int64
	drainRate           float64
}

// bigBridge: the bridging mosquitto holding the large backlog while the main broker is
// away, fed by mosquitto_pub in connections of ref messages, then drained; a fresh bridge
// each run.
func (b *bench) bigBridge() error {
	for i := 0; i < b.c.runs; i++ {
		r, err := b.bigBridgeOnce(i)
		if err != nil {
			return err
		}
		b.r.bridgeBig = append(b.r.bridgeBig, r)
	}
	return nil
}

func (b *bench) bigBridgeOnce(run int) (bridgeBigRun, error) {
	c := b.c
	var r bridgeBigRun
	bs, err := b.startBridge(fmt.Sprintf("bridge-big-%d", run))
	if err != nil {
		return r, err
	}
	defer bs.close()
	pid := bs.broker.PID()
	time.Sleep(5 * time.Second)
	if r.idle, err = readMemory(pid); err != nil {
		return r, err
	}
	b.l.logf("bridge idle: %s", r.idle)
	bs.gate.cut()
	topic := fmt.Sprintf("bench/bridge/big-%d", run)
	t := b.router.expect(topic, c.big)
	start := time.Now()
	for from := 0; from < c.big; from += c.ref {
		file, err := b.lines(from, min(from+c.ref, c.big))
		if err != nil {
			return r, err
		}
		if _, _, err := b.l.mosquittoPub(bs.broker.Addr, false, topic, file); err != nil {
			return r, err
		}
	}
	if r.queued, err = readMemory(pid); err != nil {
		return r, err
	}
	b.l.logf("bridge holds %d after %v: %s", c.big, time.Since(start).Round(time.Millisecond), r.queued)
	peak := sampleMemory(pid)
	if err := bs.gate.open(); err != nil {
		peak()
		return r, err
	}
	if err := t.wait(b.ctx, 60*time.Second); err != nil {
		peak()
		return r, fmt.Errorf("bridge drain of the large backlog: %w", err)
	}
	r.drainPeak = peak()
	if r.drain, err = readMemory(pid); err != nil {
		return r, err
	}
	r.drainRate = t.rate()
	b.l.logf("bridge drained %d at %.0f msg/s; peak RSS %.1f MiB; now %s", c.big, r.drainRate, mib(r.drainPeak), r.drain)
	return r, nil
}

// sampleMemory polls a process's RSS until the returned function is called, which
// returns the largest value seen.
func sampleMemory(pid int) func() int64 {
	stop := make(chan struct{})
	done := make(chan int64)
	go func() {
		var peak int64
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if m, err := readMemory(pid); err == nil && m.RSS > peak {
				peak = m.RSS
			}
			select {
			case <-stop:
				done <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return func() int64 {
		close(stop)
		return <-done
	}
}
