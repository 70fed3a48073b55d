package main

import (
	"context"
	"time"
)

// shadowTopics are the thing's shadow topics in the demo's IoT policy.
const shadowTopics = "$aws/things/${iot:ClientId}/shadow/#"

// demoInterval is the telemetry interval the cloud asks for through the shadow.
const demoInterval = "2s"

// shadowDesired plays an operator: once thingd reported to its shadow, the cloud sets the
// desired telemetry interval, and the demo shows thingd taking it live: the reported
// interval follows, on the same connection, and telemetry comes every 2 s instead of 5 s.
func shadowDesired(ctx context.Context, b *broker, subscribed <-chan struct{}, out *printer) {
	select {
	case <-ctx.Done():
		return
	case <-subscribed:
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	asked := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		doc, ok := b.shadow.Document(demoThing, "")
		rep, _ := doc.Reported["thingd"].(map[string]any)
		if !ok || rep == nil {
			continue
		}
		tel, _ := rep["telemetry"].(map[string]any)
		if !asked {
			desired := map[string]any{"thingd": map[string]any{"telemetry": map[string]any{"interval": demoInterval}}}
			if _, err := b.shadow.SetDesired(b.Broker, demoThing, "", desired); err != nil {
				out.printf(srcCloud, "%v", err)
				return
			}
			out.printf(srcCloud, "→ shadow desired thingd.telemetry.interval = %q (was %v)", demoInterval, tel["interval"])
			asked = true
			continue
		}
		if tel["interval"] == demoInterval {
			out.printf(srcDevice, "shadow reported thingd.telemetry.interval = %q: applied live, no reconnect", demoInterval)
			return
		}
	}
}
