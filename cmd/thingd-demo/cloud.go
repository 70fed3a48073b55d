package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// cloud sends a command to the device every interval, starting once thingd has subscribed,
// like an application in the cloud talking to the thing through AWS IoT Core.
func cloud(ctx context.Context, b *broker, subscribed <-chan struct{}, every time.Duration, out *printer) {
	select {
	case <-ctx.Done():
		return
	case <-subscribed:
	}
	topic := "cmd/" + demoThing + "/led"
	wait := time.Second // let the log of the connection settle first
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = every
		state := "on"
		if n%2 == 0 {
			state = "off"
		}
		payload := fmt.Appendf(nil, `{"led":%q,"n":%d}`, state, n)
		if err := b.Publish(topic, payload); err != nil {
			out.printf(srcCloud, "%v", err)
			continue
		}
		out.printf(srcCloud, "→ %s %s", topic, payload)
	}
}

// watchHandled shows each command thingd handled: its [[subscribe]] file handler replaces path
// with the payload (durably) before it acknowledges the message to the broker.
func watchHandled(ctx context.Context, path string, out *printer) {
	var last []byte
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		data, err := os.ReadFile(path)
		if err != nil || bytes.Equal(data, last) {
			continue
		}
		last = data
		out.printf(srcDevice, "handled: %s now holds %s", filepath.Base(path), shorten(data, 100))
	}
}
