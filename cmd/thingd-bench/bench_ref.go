package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"thingd/internal/testbed"
)

// mosquittoPubRuns: the reference publisher, `mosquitto_pub -l -q 1` straight to the broker
// with the same certificates and payloads.
func (b *bench) mosquittoPubRuns() error {
	file, err := b.lines(0, b.c.ref)
	if err != nil {
		return err
	}
	for i := 0; i < b.c.runs; i++ {
		topic := fmt.Sprintf("bench/mosquitto_pub/%d", i)
		t := b.router.expect(topic, b.c.ref)
		took, cpu, err := b.l.mosquittoPub(b.broker.Addr, true, topic, file)
		if err != nil {
			return err
		}
		b.r.cpuPub = append(b.r.cpuPub, cpu/time.Duration(b.c.ref))
		if err := b.drainWait(t); err != nil {
			return fmt.Errorf("mosquitto_pub: %w", err)
		}
		b.r.drainPub = append(b.r.drainPub, t.rate())
		b.r.pubWall = append(b.r.pubWall, float64(b.c.ref)/took.Seconds())
		b.l.logf("mosquitto_pub %d: %.0f msg/s at the subscriber, %.0f msg/s by its wall time", i, t.rate(), float64(b.c.ref)/took.Seconds())
	}
	return nil
}

// bridgeSetup is a local mosquitto with persistence that bridges bench/bridge/# to the main
// broker through a gate, so the lab can take the main broker away from it.
type bridgeSetup struct {
	l      *lab
	gate   *gate
	broker *testbed.Mosquitto
}

func (b *bench) startBridge(name string) (*bridgeSetup, error) {
	g, err := newGate(b.broker.Addr)
	if err != nil {
		return nil, err
	}
	if err := g.open(); err != nil {
		return nil, err
	}
	br, err := b.l.startBroker(brokerOptions{name: name, persistence: true, bridgeTo: g.addr, bridgeTopic: "bench/bridge/#"})
	if err != nil {
		g.cut()
		return nil, err
	}
	bs := &bridgeSetup{l: b.l, gate: g, broker: br}
	// One message through proves the bridge is connected.
	probe := filepath.Join(br.Dir, "probe.txt")
	if err := os.WriteFile(probe, []byte("0\n"), 0o644); err != nil {
		bs.close()
		return nil, err
	}
	topic := "bench/bridge/probe-" + name
	t := b.router.expect(topic, 1)
	deadline := time.Now().Add(30 * time.Second)
	for t.count() == 0 {
		if err := b.ctx.Err(); err != nil {
			bs.close()
			return nil, err
		}
		if time.Now().After(deadline) {
			bs.close()
			return nil, fmt.Errorf("the bridge (log %s) forwarded nothing to the main broker within 30s", br.LogFile)
		}
		if _, _, err := b.l.mosquittoPub(br.Addr, false, topic, probe); err != nil {
			bs.close()
			return nil, err
		}
		time.Sleep(500 * time.Millisecond)
	}
	return bs, nil
}

func (bs *bridgeSetup) close() {
	bs.l.stopBroker(bs.broker)
	bs.gate.cut()
}

// bridgeRuns: the bridge gets ref messages from mosquitto_pub while the main broker is
// unreachable, then drains them when the gate opens.
func (b *bench) bridgeRuns() error {
	bs, err := b.startBridge("bridge")
	if err != nil {
		return err
	}
	defer bs.close()
	file, err := b.lines(0, b.c.ref)
	if err != nil {
		return err
	}
	for i := 0; i < b.c.runs; i++ {
		topic := fmt.Sprintf("bench/bridge/%d", i)
		bs.gate.cut()
		t := b.router.expect(topic, b.c.ref)
		before, err := readIO(bs.broker.PID())
		if err != nil {
			return err
		}
		if _, _, err := b.l.mosquittoPub(bs.broker.Addr, false, topic, file); err != nil {
			return err
		}
		after, err := readIO(bs.broker.PID())
		if err != nil {
			return err
		}
		b.r.bridgeIO = append(b.r.bridgeIO, after.sub(before))
		cpu0, err := cpuTime(bs.broker.PID())
		if err != nil {
			return err
		}
		if err := bs.gate.open(); err != nil {
			return err
		}
		if err := b.drainWait(t); err != nil {
			return fmt.Errorf("bridge: %w", err)
		}
		cpu1, err := cpuTime(bs.broker.PID())
		if err != nil {
			return err
		}
		b.r.cpuBridge = append(b.r.cpuBridge, (cpu1-cpu0)/time.Duration(b.c.ref))
		b.r.drainBridge = append(b.r.drainBridge, t.rate())
		b.r.dupsBridge += t.dups
		b.l.logf("bridge %d: %.0f msg/s (%d duplicates)", i, t.rate(), t.dups)
	}
	return nil
}
