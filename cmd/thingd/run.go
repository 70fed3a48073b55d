package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"go.uber.org/zap"

	"thingd/daemon"
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
	log, level, err := systemd.NewLogger(systemd.LogOptions{Level: cfg.Log.Level, Out: e.stderr})
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	if os.Getenv("GOGC") == "" {
		// The backlog lives on disk, so the heap is mostly garbage between collections;
		// collecting at +50% instead of +100% keeps a Pi Zero's RSS flat for little CPU
		// (docs/BENCHMARKS.md). GOGC in the environment still wins.
		debug.SetGCPercent(50)
	}

	// One root context: SIGTERM or SIGINT cancels it and the daemon flushes and exits 0;
	// a second one exits at once. SIGHUP reloads the config.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{}, 1)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()
	go func() {
		s, ok := <-sigs
		if !ok {
			return
		}
		log.Info("signal received: stopping", zap.String("signal", s.String()))
		cancel()
		if s, ok = <-sigs; ok {
			fmt.Fprintf(e.stderr, "thingd: second %s: exiting without flushing\n", s)
			os.Exit(exitFailure)
		}
	}()

	if cfg, err = provisionFirst(ctx, cfg, log); err != nil {
		return err
	}
	return daemon.Run(ctx, daemon.Options{
		Config: cfg, Logger: log, Level: level, BuildTime: built(), Version: version, Reload: reload,
	})
}
