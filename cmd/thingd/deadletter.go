package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"thingd/daemon/deadletter"
)

const deadLetterUsage = "usage: thingd deadletter list|retry|discard [SEQ|all] [--config FILE | --socket PATH] [--json]"

// deadLetterCmd lists, retries or discards the messages the broker refused (the running
// daemon does the work, through its socket, so it stays the only writer of the store).
func deadLetterCmd(_ context.Context, e *env, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(e.stdout, deadLetterUsage)
			return nil
		}
		return usagef("%s", deadLetterUsage)
	}
	op := args[0]
	fs := newFlags("deadletter "+op, e)
	socket := socketFlags(fs)
	asJSON := fs.Bool("json", false, "print the daemon's JSON answer")
	pos, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return err
	}
	arg := ""
	switch op {
	case "list":
		if len(pos) > 0 {
			return usagef("thingd deadletter list takes no argument, not %q", pos[0])
		}
	case "retry", "discard":
		if len(pos) != 1 {
			return usagef("thingd deadletter %s wants one SEQ (from `thingd deadletter list`) or all", op)
		}
		arg = pos[0]
		if _, err := strconv.ParseUint(arg, 10, 64); err != nil && arg != "all" {
			return usagef("thingd deadletter %s: %q is not a seq; want a number from `thingd deadletter list`, or all", op, arg)
		}
	default:
		return usagef("thingd deadletter: unknown operation %q\n%s", op, deadLetterUsage)
	}
	c, err := socket.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	raw, err := c.DeadLetters(op, arg)
	if err != nil {
		return fmt.Errorf("deadletter %s: %w", op, err)
	}
	if *asJSON {
		var out bytes.Buffer
		if err := json.Indent(&out, raw, "", "  "); err != nil {
			return err
		}
		out.WriteByte('\n')
		_, err := e.stdout.Write(out.Bytes())
		return err
	}
	var letters []deadletter.Letter
	if err := json.Unmarshal(raw, &letters); err != nil {
		return fmt.Errorf("deadletter: unexpected answer from thingd: %w", err)
	}
	_, err = e.stdout.Write([]byte(deadLetterText(op, letters)))
	return err
}

// parseInterleaved parses flags given before, between or after the positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parse(fs, args, len(args)); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func deadLetterText(op string, letters []deadletter.Letter) string {
	var w strings.Builder
	switch op {
	case "list":
		if len(letters) == 0 {
			return "no dead letters\n"
		}
		for _, l := range letters {
			fmt.Fprintf(&w, "seq %d  %s  qos %d, %d bytes, dead-lettered %s after %d strikes\n    reason: %s\n",
				l.Seq, l.Topic, l.QoS, len(l.Payload), l.At.Local().Format(time.RFC3339), l.Strikes, l.Reason)
		}
		fmt.Fprintf(&w, "%d dead letters. Allow their topics in the device's IoT policy (iot:Publish on "+
			"arn:aws:iot:<region>:<account>:topic/<topic>), then `thingd deadletter retry all`; "+
			"or drop them: `thingd deadletter discard all`\n", len(letters))
	case "retry":
		for _, l := range letters {
			fmt.Fprintf(&w, "queued again: seq %d  %s\n", l.Seq, l.Topic)
		}
		fmt.Fprintf(&w, "%d dead letters queued again\n", len(letters))
	case "discard":
		for _, l := range letters {
			fmt.Fprintf(&w, "discarded: seq %d  %s\n", l.Seq, l.Topic)
		}
		fmt.Fprintf(&w, "%d dead letters discarded\n", len(letters))
	}
	return w.String()
}
