package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"time"
)

// Set at link time: -X main.version=... -X main.commit=... -X main.buildTime=<unix seconds>.
var (
	version   = "dev"
	commit    = ""
	buildTime = ""
)

func versionCmd(_ context.Context, e *env, args []string) error {
	fs := newFlags("version", e)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "thingd %s (commit %s, built %s, %s %s/%s)\n", version, revision(),
		built().UTC().Format(time.RFC3339), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

func revision() string {
	if commit != "" {
		return commit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return s.Value[:12]
			}
		}
	}
	return "unknown"
}

// built is the binary's build time; the clock never trusts a time older than it.
func built() time.Time {
	var sec int64
	if _, err := fmt.Sscan(buildTime, &sec); err == nil && sec > 0 {
		return time.Unix(sec, 0)
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.time" {
				if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
					return t
				}
			}
		}
	}
	// A build without -X main.buildTime (go build by hand): the binary's own mtime is
	// close to when it was built, and package managers preserve it.
	if exe, err := os.Executable(); err == nil {
		if fi, err := os.Stat(exe); err == nil {
			return fi.ModTime()
		}
	}
	return time.Time{}
}
