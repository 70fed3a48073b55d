package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"thingd/daemon/config"
	"thingd/daemon/provision"
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
		// No daemon to ask: a device that failed to provision has no socket yet, so say why.
		if f := provisioningFailure(*socket.config); f != nil {
			fmt.Fprintf(e.stderr, "thingd is not running: provisioning by claim failed at %s: %s\n",
				f.At.Local().Format(time.RFC3339), f.Error)
		}
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

// provisioningFailure is the last provisioning failure recorded for the config, if any.
func provisioningFailure(flagConfig string) *provision.Failure {
	cfg, err := config.Load(config.Resolve(flagConfig))
	if err != nil || !cfg.Provisioning.Enabled() {
		return nil
	}
	f, err := provision.ReadFailure(&cfg.Provisioning)
	if err != nil {
		return nil
	}
	return f
}
