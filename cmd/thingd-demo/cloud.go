package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"thingd/internal/testbed/awsiot"
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

// demoJob is the job the cloud sends once: the console's "create job" with a document
// naming the handler the device's config has for it.
const (
	demoJob       = "demo-job-1"
	demoJobDoc    = `{"operation":"say-hello"}`
	demoJobOutput = "hello from the job handler"
)

// job creates demoJob a few seconds after thingd has subscribed, then narrates its
// execution as AWS IoT Jobs sees it: QUEUED, IN_PROGRESS, SUCCEEDED with the handler's output.
func job(ctx context.Context, b *broker, subscribed <-chan struct{}, out *printer) {
	select {
	case <-ctx.Done():
		return
	case <-subscribed:
	}
	select {
	case <-ctx.Done():
		return
	case <-time.After(2 * time.Second):
	}
	if err := b.jobs.AddJob(demoThing, demoJob, []byte(demoJobDoc), awsiot.JobOptions{}); err != nil {
		out.printf(srcCloud, "%v", err)
		return
	}
	out.printf(srcCloud, "→ job %s created, document %s", demoJob, demoJobDoc)
	seen := 1 // QUEUED
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		e, ok := b.jobs.Execution(demoThing, demoJob)
		if !ok {
			continue
		}
		for i := min(seen, len(e.History)); i < len(e.History); i++ {
			st := e.History[i]
			if i > 0 && e.History[i-1] == st {
				continue // progress reports (the step about to run) repeat IN_PROGRESS
			}
			line := fmt.Sprintf("job %s %s", demoJob, st)
			if stdout := e.StatusDetails["stdout"]; stdout != "" && st != "IN_PROGRESS" {
				line += fmt.Sprintf(" (exit code %s, output %q)", e.StatusDetails["exitCode"], stdout)
			}
			out.printf(srcBroker, "%s", line)
		}
		seen = len(e.History)
	}
}
