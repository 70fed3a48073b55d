package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"thingd/cmd/thingd/internal/check"
	"thingd/daemon/config"
)

func checkCmd(ctx context.Context, e *env, args []string) error {
	fs := newFlags("check", e)
	cfgPath := fs.String("config", "", "config file (default $THINGD_CONFIG or "+config.DefaultPath+")")
	asJSON := fs.Bool("json", false, "print the results as a JSON array, for scripts")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	path := config.Resolve(*cfgPath)
	cfg, cfgErr := config.Load(path)
	var results []check.Result
	if cfgErr != nil {
		results = check.ConfigFailed(path, cfgErr)
	} else {
		results = check.Run(ctx, cfg, check.Options{})
	}
	var err error
	if *asJSON {
		err = check.JSON(e.stdout, results)
	} else {
		err = check.Print(e.stdout, results, colorful(e.stdout))
	}
	switch {
	case err != nil:
		return err
	case cfgErr != nil: // exit 2 like `run`: restarting cannot fix a bad file
		return exitError{code: exitUsage}
	case check.Failed(results):
		return exitError{code: exitFailure}
	}
	return nil
}

// colorful: colour only on a terminal, and never when NO_COLOR is set (no-color.org).
func colorful(w any) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
