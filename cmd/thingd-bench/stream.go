package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"thingd/daemon/local"
)

// streamLines enqueues messages from..to-1 through the daemon's socket with the same
// pipelined client `thingd pub --lines` uses, but in-process: the per-message cost without
// the start-up of a pub process. It returns the time until the last one was acknowledged.
func streamLines(ctx context.Context, socket, topic string, from, to, size int) (time.Duration, error) {
	c, err := local.Dial(socket)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	n := from
	next := func() (local.Request, bool, bool, error) {
		if n >= to {
			return local.Request{}, false, false, nil
		}
		p := payloadLine(n, size)
		n++
		return local.Request{Verb: "PUB", QoS: 1, Topic: topic, Payload: p}, true, n < to, nil
	}
	refused := 0
	start := time.Now()
	err = c.Stream(ctx, next, func(_ int, r local.Response) {
		if !r.OK {
			refused++
		}
	})
	took := time.Since(start)
	if err == nil && refused > 0 {
		err = fmt.Errorf("thingd refused %d of %d messages", refused, to-from)
	}
	return took, err
}

// daemonStatus is the part of `thingd status --json` the lab looks at.
type daemonStatus struct {
	Connection struct {
		Connected bool `json:"connected"`
	} `json:"connection"`
	Queue struct {
		Depth      int64 `json:"depth"`
		AckedAhead int64 `json:"acked_ahead"`
	} `json:"queue"`
	DeadLetters struct {
		Count int `json:"count"`
	} `json:"dead_letters"`
}

func readStatus(socket string) (daemonStatus, error) {
	var st daemonStatus
	c, err := local.Dial(socket)
	if err != nil {
		return st, err
	}
	defer c.Close()
	raw, err := c.Status()
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(raw, &st)
}

// waitConnected polls the daemon's status until its MQTT session is up.
func waitConnected(ctx context.Context, socket string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for ctx.Err() == nil {
		st, err := readStatus(socket)
		if err == nil && st.Connection.Connected {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("thingd did not connect within %v (last status error: %v)", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return ctx.Err()
}
