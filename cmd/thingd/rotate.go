package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"thingd/daemon/config"
	"thingd/daemon/provision"
	"thingd/internal/atomicfile"
)

// rotateCmd asks the running daemon to rotate the certificate now, over its own connection,
// and waits for the outcome it records in rotation.json.
func rotateCmd(ctx context.Context, e *env, args []string) error {
	fs := newFlags("rotate", e)
	cfgPath := fs.String("config", "", "config file (default $THINGD_CONFIG or "+config.DefaultPath+")")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	cfg, err := config.Load(config.Resolve(*cfgPath))
	if err != nil {
		return err
	}
	p := &cfg.Provisioning
	id, err := cfg.Identity()
	if err != nil {
		return err
	}
	if id == nil {
		return exitError{exitUsage, fmt.Errorf("rotation needs a device provisioned by claim ([provisioning] and %s); run `thingd provision` first (docs/provisioning.md)", p.IdentityFile())}
	}
	asked := time.Now().UTC()
	if err := atomicfile.Write(p.RotateRequestFile(), []byte(asked.Format(time.RFC3339Nano)+"\n"), 0o600); err != nil {
		return fmt.Errorf("ask the daemon to rotate: %w", err)
	}
	fmt.Fprintf(e.stdout, "asked the running daemon to rotate the certificate of %s (certificate %s)\n", id.ThingName, id.CertificateID)
	deadline := time.Now().Add(p.Timeout.D() + 30*time.Second)
	for time.Now().Before(deadline) {
		if st, err := provision.ReadRotation(p); err == nil && st.At.After(asked) {
			if st.State != provision.RotationDone {
				return exitError{exitFailure, fmt.Errorf("rotation failed: %s", st.Error)}
			}
			fmt.Fprintf(e.stdout, "rotated: certificate %s, valid until %s\n", st.CertificateID, st.NotAfter.UTC().Format(time.RFC3339))
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	_ = os.Remove(p.RotateRequestFile()) // nobody took it; a later start must not act on it
	return exitError{exitFailure, fmt.Errorf("no rotation result in %s within %s: is `thingd run` running with this config (systemctl status thingd)?", p.RotationFile(), p.Timeout.D()+30*time.Second)}
}
