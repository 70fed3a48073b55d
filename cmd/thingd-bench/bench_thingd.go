package main

import (
	"fmt"
	"strings"
	"time"
)

// ready: exec of `thingd run` to READY=1 on its NOTIFY_SOCKET, fresh queue, broker unreachable
// (READY does not wait for the network).
func (b *bench) ready() error {
	for i := 0; i < b.c.readyRuns; i++ {
		s, err := b.l.newThingd("ready", b.closed, "")
		if err != nil {
			return err
		}
		d, err := b.l.startThingd(s)
		if err != nil {
			return err
		}
		b.r.ready = append(b.r.ready, d.ready)
		if err := d.stopGracefully(); err != nil {
			return err
		}
	}
	b.l.logf("READY after %v (median of %d)", medianDuration(b.r.ready), len(b.r.ready))
	return nil
}

// idle: thingd connected to the broker with an empty queue, five seconds after it connected.
func (b *bench) idle() error {
	s, err := b.l.newThingd("idle", b.broker.Port, "")
	if err != nil {
		return err
	}
	d, err := b.l.startThingd(s)
	if err != nil {
		return err
	}
	if err := waitConnected(b.ctx, s.socket, 60*time.Second); err != nil {
		d.kill9()
		return err
	}
	time.Sleep(5 * time.Second)
	if b.r.thingdIdle, err = readMemory(d.PID()); err != nil {
		d.kill9()
		return err
	}
	b.l.logf("thingd idle: %s", b.r.thingdIdle)
	if b.r.thingdIdleMaps, err = smapsTop(d.PID(), 6); err == nil {
		b.l.logf("largest mappings: %s", strings.Join(b.r.thingdIdleMaps, "; "))
	}
	return d.stopGracefully()
}

// ingestAndDrain: `thingd pub --lines` of n messages into a daemon whose broker is
// unreachable (the durable ingest rate and the bytes written per message), then the same
// daemon's queue drained to the broker after a restart pointed at it.
func (b *bench) ingestAndDrain() error {
	file, err := b.lines(0, b.c.n)
	if err != nil {
		return err
	}
	for i := 0; i < b.c.runs; i++ {
		topic := fmt.Sprintf("bench/thingd/%d", i)
		s, err := b.l.newThingd("ingest", b.closed, "")
		if err != nil {
			return err
		}
		d, err := b.l.startThingd(s)
		if err != nil {
			return err
		}
		before, err := readIO(d.PID())
		if err != nil {
			return err
		}
		cpu0, err := cpuTime(d.PID())
		if err != nil {
			return err
		}
		took, err := b.pubFile(s.socket, topic, file)
		if err != nil {
			return err
		}
		after, err := readIO(d.PID())
		if err != nil {
			return err
		}
		cpu1, err := cpuTime(d.PID())
		if err != nil {
			return err
		}
		b.r.cpuIngest = append(b.r.cpuIngest, (cpu1-cpu0)/time.Duration(b.c.n))
		w := after.sub(before)
		rate := float64(b.c.n) / took.Seconds()
		b.r.ingest = append(b.r.ingest, rate)
		b.r.ingestIO = append(b.r.ingestIO, w)
		b.l.logf("ingest %d: %.0f msg/s, %.1f bytes written per message (write_bytes), %.1f by write(2), %.1f writes per 1k msgs",
			i, rate, float64(w.WriteBytes)/float64(b.c.n), float64(w.WChar)/float64(b.c.n), float64(w.SyscW)*1000/float64(b.c.n))
		if err := d.stopGracefully(); err != nil {
			return err
		}

		if err := s.repoint(b.broker.Port); err != nil {
			return err
		}
		t := b.router.expect(topic, b.c.n)
		if d, err = b.l.startThingd(s); err != nil {
			return err
		}
		if err := b.drainWait(t); err != nil {
			d.kill9()
			return fmt.Errorf("thingd drain: %w", err)
		}
		cpu, err := cpuTime(d.PID())
		if err != nil {
			return err
		}
		// The whole process: start-up and the TLS handshake are part of it, a few ms.
		b.r.cpuDrain = append(b.r.cpuDrain, cpu/time.Duration(b.c.n))
		b.r.drainThingd = append(b.r.drainThingd, t.rate())
		b.r.dupsThingd += t.dups
		b.l.logf("drain %d: %.0f msg/s (%d duplicates)", i, t.rate(), t.dups)
		if err := d.stopGracefully(); err != nil {
			return err
		}
	}
	return nil
}

// single: a slow producer, one `thingd pub --message` (one fsync) per message; the bytes
// written per message when group commit has nothing to group.
func (b *bench) single() error {
	s, err := b.l.newThingd("single", b.closed, "")
	if err != nil {
		return err
	}
	d, err := b.l.startThingd(s)
	if err != nil {
		return err
	}
	before, err := readIO(d.PID())
	if err != nil {
		return err
	}
	for i := 0; i < b.c.singles; i++ {
		if err := b.l.pubMessage(b.ctx, s.socket, "bench/thingd/single", payloadLine(i, b.c.size)); err != nil {
			d.kill9()
			return err
		}
	}
	after, err := readIO(d.PID())
	if err != nil {
		return err
	}
	b.r.singleIO = after.sub(before)
	b.l.logf("one message per pub: %.0f bytes written per message (write_bytes), %.0f by write(2)",
		float64(b.r.singleIO.WriteBytes)/float64(b.c.singles), float64(b.r.singleIO.WChar)/float64(b.c.singles))
	return d.stopGracefully()
}

// smallBacklog: the per-message drain cost of a small backlog (for the flatness figure).
func (b *bench) smallBacklog() error {
	file, err := b.lines(0, b.c.small)
	if err != nil {
		return err
	}
	for i := 0; i < b.c.runs; i++ {
		topic := fmt.Sprintf("bench/small/%d", i)
		s, err := b.l.newThingd("small", b.closed, "")
		if err != nil {
			return err
		}
		d, err := b.l.startThingd(s)
		if err != nil {
			return err
		}
		if _, err := b.pubFile(s.socket, topic, file); err != nil {
			return err
		}
		if err := d.stopGracefully(); err != nil {
			return err
		}
		if err := s.repoint(b.broker.Port); err != nil {
			return err
		}
		t := b.router.expect(topic, b.c.small)
		if d, err = b.l.startThingd(s); err != nil {
			return err
		}
		if err := b.drainWait(t); err != nil {
			d.kill9()
			return err
		}
		per := t.span(b.c.small) / time.Duration(b.c.small-1)
		b.r.drainCostSmall = append(b.r.drainCostSmall, per)
		b.l.logf("small drain %d: %v per message", i, per)
		if err := d.stopGracefully(); err != nil {
			return err
		}
	}
	return nil
}
