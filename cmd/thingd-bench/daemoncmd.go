package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	thingddaemon "thingd/daemon"
	"thingd/daemon/config"
	"thingd/systemd"
)

// daemonCmd is `thingd run` in-process with CPU and heap profiles, so that a benchmark
// that misses its target can be profiled without changing the daemon.
func daemonCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("daemon", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "thingd config file")
	cpu := fs.String("cpuprofile", "", "write a CPU profile here")
	mem := fs.String("memprofile", "", "write a heap profile here at exit")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	log, level, err := systemd.NewLogger(systemd.LogOptions{Level: cfg.Log.Level, Out: os.Stderr})
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	if *cpu != "" {
		f, err := os.Create(*cpu)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	// main turns SIGTERM and SIGINT into ctx's end, as thingd run does.
	err = thingddaemon.Run(ctx, thingddaemon.Options{Config: cfg, Logger: log, Level: level, BuildTime: time.Now().Add(-time.Hour), Version: "bench"})
	if *mem != "" {
		f, ferr := os.Create(*mem)
		if ferr != nil {
			return ferr
		}
		defer f.Close()
		runtime.GC()
		if werr := pprof.Lookup("allocs").WriteTo(f, 0); werr != nil {
			return werr
		}
	}
	return err
}
