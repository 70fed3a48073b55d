package main

import (
	"context"
	"errors"

	"thingd/daemon/config"
	"thingd/systemd"
)

func runCmd(ctx context.Context, e *env, args []string) error {
	fs := newFlags("run", e)
	cfgPath := fs.String("config", "", "config file (default $THINGD_CONFIG or "+config.DefaultPath+")")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	cfg, err := config.Load(config.Resolve(*cfgPath))
	if err != nil {
		return err
	}
	log, _, err := systemd.NewLogger(systemd.LogOptions{Level: cfg.Log.Level, Out: e.stderr})
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	return errors.New("run: the daemon is not implemented yet")
}
