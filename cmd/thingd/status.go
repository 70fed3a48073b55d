package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"thingd/daemon"
)

func statusCmd(_ context.Context, e *env, args []string) error {
	fs := newFlags("status", e)
	socket := socketFlags(fs)
	asJSON := fs.Bool("json", false, "print the status document as JSON")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	c, err := socket.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	raw, err := c.Status()
	if err != nil {
		return fmt.Errorf("status: %w", err)
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
	var st daemon.Status
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("status: unexpected answer from thingd: %w", err)
	}
	printStatus(e.stdout, st)
	return nil
}

func printStatus(w io.Writer, st daemon.Status) {
	conn := "disconnected"
	if st.Connection.Connected {
		conn = "connected since " + st.Connection.Since.Local().Format(time.RFC3339)
	}
	fmt.Fprintf(w, "thingd %s, up %s, thing %s\n", st.Version, st.Uptime, st.Thing)
	fmt.Fprintf(w, "connection  %s: %s, %d reconnects, %d in flight\n", st.Endpoint, conn, st.Connection.Reconnects, st.Connection.InFlight)
	if st.Connection.LastError != "" {
		fmt.Fprintf(w, "            last error: %s\n", st.Connection.LastError)
	}
	clk := "unsynced"
	if st.Clock.Synced {
		clk = fmt.Sprintf("synced via %s, offset %s, last sync %s", st.Clock.Source, st.Clock.Offset, st.Clock.LastSync.Format(time.RFC3339))
	}
	fmt.Fprintf(w, "clock       %s (now %s, floor %s)\n", clk, st.Clock.Now.Format(time.RFC3339), st.Clock.Floor.Format(time.RFC3339))
	if st.Clock.LastError != "" {
		fmt.Fprintf(w, "            last error: %s\n", st.Clock.LastError)
	}
	fmt.Fprintf(w, "queue       %d messages, %d bytes", st.Queue.Depth, st.Queue.Bytes)
	if st.Queue.OldestAge != "" {
		fmt.Fprintf(w, ", oldest %s old", st.Queue.OldestAge)
	}
	fmt.Fprintln(w)
	c := st.Counters
	fmt.Fprintf(w, "counters    accepted %d, published %d, dropped %d, refused %d, corrupt %d\n", c.Accepted, c.Published, c.Dropped, c.Refused, c.Corrupt)
	if c.Lost > 0 {
		fmt.Fprintf(w, "lost        %d messages to corruption or missing files, earlier runs included (see the journal)\n", c.Lost)
	}
	subs := strings.Join(st.Subscriptions, ", ")
	if subs == "" {
		subs = "(none)"
	}
	fmt.Fprintf(w, "subscribed  %s\n", subs)
	if st.ReloadError != "" {
		fmt.Fprintf(w, "reload      FAILED, running the previous config: %s\n", st.ReloadError)
	}
}
