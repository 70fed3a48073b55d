package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"

	"thingd/clock"
	"thingd/daemon/config"
	"thingd/daemon/provision"
	"thingd/systemd"
)

// provisionCmd is fleet provisioning by claim, once, from the command line.
func provisionCmd(ctx context.Context, e *env, args []string) error {
	fs := newFlags("provision", e)
	cfgPath := fs.String("config", "", "config file (default $THINGD_CONFIG or "+config.DefaultPath+")")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	cfg, err := config.Load(config.Resolve(*cfgPath))
	if err != nil {
		return err
	}
	if !cfg.Provisioning.Enabled() {
		return exitError{exitUsage, fmt.Errorf("%s has no [provisioning] template: set template, claim_cert and claim_key to provision by claim (docs/provisioning.md)", cfg.Path)}
	}
	log, _, err := systemd.NewLogger(systemd.LogOptions{Level: cfg.Log.Level, Out: e.stderr})
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	needed, err := provision.Needed(cfg)
	if err != nil {
		return err
	}
	if !needed {
		id, err := cfg.Identity()
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "already provisioned as %s (certificate %s); delete %s to provision again\n",
			id.ThingName, id.CertificateID, cfg.Provisioning.IdentityFile())
		return nil
	}
	now, stop := provisionClock(ctx, cfg, log)
	defer stop()
	id, err := provision.Run(ctx, provision.Options{Config: cfg, Logger: log, Now: now,
		Status: func(s string) { fmt.Fprintln(e.stdout, s) }})
	if err != nil {
		return provisionFailed(err)
	}
	fmt.Fprintf(e.stdout, "thing %s, client ID %s, certificate %s\nkey %s\ncertificate %s\nidentity %s\n",
		id.ThingName, id.ClientID, id.CertificateID, id.KeyFile, id.CertFile, cfg.Provisioning.IdentityFile())
	return nil
}

// provisionFirst is `thingd run` on a device that is not provisioned yet: it provisions
// before the daemon starts (the unit stays "activating", STATUS= says why) and returns the
// config reloaded with the permanent identity, so topics expand with the new thing name.
func provisionFirst(ctx context.Context, cfg *config.Config, log *zap.Logger) (*config.Config, error) {
	needed, err := provision.Needed(cfg)
	if err != nil || !needed {
		return cfg, err
	}
	n := systemd.NewNotifier(log)
	// The unit stays "activating" while provisioning; systemd's start timeout (90 s by
	// default) must not kill it meanwhile.
	budget := clockWait + cfg.Provisioning.Timeout.D() + 30*time.Second
	_, _ = sddaemon.SdNotify(false, fmt.Sprintf("EXTEND_TIMEOUT_USEC=%d", budget.Microseconds()))
	_ = n.Status("provisioning by claim: no permanent certificate yet (template " + cfg.Provisioning.Template + ")")
	now, stop := provisionClock(ctx, cfg, log)
	_, err = provision.Run(ctx, provision.Options{Config: cfg, Logger: log, Now: now,
		Status: func(s string) { _ = n.Status(s) }})
	stop()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err() // stopped while provisioning: a clean exit
		}
		_ = n.Status("provisioning failed: " + err.Error())
		log.Error("provisioning failed", zap.Error(err))
		provision.RecordFailure(&cfg.Provisioning, time.Now(), err) // for `thingd status`
		return nil, provisionFailed(err)
	}
	provision.RecordFailure(&cfg.Provisioning, time.Now(), nil)
	return config.Load(cfg.Path)
}

// provisionFailed maps a failure to its exit code: 2 when the fix is in the config file (a
// template AWS IoT does not know, missing parameters), which restarting cannot fix; else 1.
func provisionFailed(err error) error {
	var rej *provision.RejectedError
	if errors.As(err, &rej) && (rej.StatusCode == 404 || rej.ErrorCode == "ResourceNotFound" ||
		rej.ErrorCode == "InvalidParameters") {
		return exitError{exitUsage, err}
	}
	return exitError{exitFailure, err}
}

// clockWait bounds how long provisioning waits for NTP before it goes on with the clock's
// floor (the saved last good time or the build time), which is enough for TLS on a board
// that booted at 1970.
const clockWait = 15 * time.Second

// provisionClock is trusted time for the claim connection's TLS: a board without an RTC
// provisions before the daemon's own clock runs. It never steps the system clock (the
// daemon's clock does that, if configured); stop ends it.
func provisionClock(ctx context.Context, cfg *config.Config, log *zap.Logger) (now func() time.Time, stop func()) {
	c, err := clock.New(clock.Options{Servers: cfg.Clock.Servers, Step: clock.StepNever,
		StateFile: cfg.Clock.StateFile, BuildTime: built(), Logger: log})
	if err != nil {
		log.Warn("provisioning uses the system clock", zap.Error(err))
		return time.Now, func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = c.Run(ctx)
	}()
	if !c.WaitTrusted(ctx, clockWait) {
		log.Warn("no NTP time yet; provisioning with the clock's floor", zap.Time("now", c.Now()))
	}
	return c.Now, func() { cancel(); wg.Wait() }
}
