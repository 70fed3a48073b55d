package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"thingd/daemon/status"
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
	var st status.Status
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("status: unexpected answer from thingd: %w", err)
	}
	_, err = io.WriteString(e.stdout, st.Text())
	return err
}
