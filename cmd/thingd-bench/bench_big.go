package main

import (
	"fmt"
	"time"
)

// bigThingd: thingd with a large backlog. Ingest-cost samples at a small depth, the large
// ingest (memory with it queued), samples at the large depth, then a restart pointed at the
// broker and the whole backlog drained (start-up time, peak memory, drain cost by depth).
func (b *bench) bigThingd() error {
	c := b.c
	topic := "bench/big/thingd"
	total := c.small + 2*c.runs*c.costBatch + c.big
	t := b.router.expect(topic, total)
	s, err := b.l.newThingd("big", b.closed, "")
	if err != nil {
		return err
	}
	d, err := b.l.startThingd(s)
	if err != nil {
		return err
	}
	next := 0
	ingest := func(n int) (time.Duration, error) {
		file, err := b.lines(next, next+n)
		if err != nil {
			return 0, err
		}
		next += n
		return b.pubFile(s.socket, topic, file)
	}
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
	if _, err := ingest(c.small); err != nil {
		return err
	}
	if b.r.ingestCostSmall, err = costs(); err != nil {
		return err
	}
	b.l.logf("ingest cost at depth %d: %v per message", c.small, medianDuration(b.r.ingestCostSmall))
	before, err := readIO(d.pid())
	if err != nil {
		return err
	}
	took, err := ingest(c.big)
	if err != nil {
		return err
	}
	after, err := readIO(d.pid())
	if err != nil {
		return err
	}
	b.r.bigIngest = float64(c.big) / took.Seconds()
	b.r.bigIngestIO = after.sub(before)
	if b.r.thingdBig, err = readMemory(d.pid()); err != nil {
		return err
	}
	b.l.logf("ingested %d in %v (%.0f msg/s); %s", c.big, took.Round(time.Millisecond), b.r.bigIngest, b.r.thingdBig)
	if b.r.ingestCostBig, err = costs(); err != nil {
		return err
	}
	b.l.logf("ingest cost at depth %d: %v per message", c.big, medianDuration(b.r.ingestCostBig))
	if err := d.stopGracefully(); err != nil {
		return err
	}

	if err := s.repoint(b.broker.port); err != nil {
		return err
	}
	if d, err = b.l.startThingd(s); err != nil {
		return err
	}
	b.r.readyBig = d.ready
	if b.r.thingdBigStart, err = readMemory(d.pid()); err != nil {
		return err
	}
	b.l.logf("restarted with %d queued: READY after %v, %s", total, d.ready, b.r.thingdBigStart)
	peak := sampleMemory(d.pid())
	if err := t.wait(b.ctx, 60*time.Second); err != nil {
		peak()
		d.kill9()
		return fmt.Errorf("thingd drain of the large backlog: %w", err)
	}
	b.r.thingdDrainPeakRSS = peak()
	if b.r.thingdDrain, err = readMemory(d.pid()); err != nil {
		return err
	}
	b.r.bigDrainThingd = t.rate()
	b.r.drainWindowsBig = t.windows(c.small)
	b.r.dupsBig += t.dups
	b.l.logf("drained %d at %.0f msg/s; peak RSS %.1f MiB; now %s", total, t.rate(), mib(b.r.thingdDrainPeakRSS), b.r.thingdDrain)
	return d.stopGracefully()
}

// bigBridge: the bridging mosquitto holding the large backlog while the main broker is
// away, fed by mosquitto_pub in connections of ref messages, then drained.
func (b *bench) bigBridge() error {
	c := b.c
	bs, err := b.startBridge("bridge-big")
	if err != nil {
		return err
	}
	defer bs.close()
	pid := bs.broker.p.pid()
	time.Sleep(5 * time.Second)
	if b.r.bridgeIdle, err = readMemory(pid); err != nil {
		return err
	}
	b.l.logf("bridge idle: %s", b.r.bridgeIdle)
	bs.gate.cut()
	topic := "bench/bridge/big"
	t := b.router.expect(topic, c.big)
	start := time.Now()
	for from := 0; from < c.big; from += c.ref {
		file, err := b.lines(from, min(from+c.ref, c.big))
		if err != nil {
			return err
		}
		if _, _, err := b.l.mosquittoPub(bs.broker.addr, false, topic, file); err != nil {
			return err
		}
	}
	if b.r.bridgeBig, err = readMemory(pid); err != nil {
		return err
	}
	b.l.logf("bridge holds %d after %v: RSS %.1f MiB, HWM %.1f MiB", c.big, time.Since(start).Round(time.Millisecond),
		mib(b.r.bridgeBig.RSS), mib(b.r.bridgeBig.HWM))
	peak := sampleMemory(pid)
	if err := bs.gate.open(); err != nil {
		return err
	}
	if err := t.wait(b.ctx, 60*time.Second); err != nil {
		peak()
		return fmt.Errorf("bridge drain of the large backlog: %w", err)
	}
	b.r.bridgeDrainPeakRSS = peak()
	if b.r.bridgeDrain, err = readMemory(pid); err != nil {
		return err
	}
	b.r.bigDrainBridge = t.rate()
	b.l.logf("bridge drained %d at %.0f msg/s; peak RSS %.1f MiB; now %s", c.big, t.rate(), mib(b.r.bridgeDrainPeakRSS), b.r.bridgeDrain)
	return nil
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
