package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"thingd/daemon/config"
)

// Exit codes (DESIGN.md §3). exitUsage also covers configuration errors: the unit sets
// RestartPreventExitStatus=2 because restarting cannot fix a bad file.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// usageError marks a wrong command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// exitError carries a specific exit code with an already printed (or empty) message.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

func (e exitError) Unwrap() error { return e.err }

func exitCode(stderr io.Writer, err error) int {
	var ee exitError
	var ue usageError
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp) || errors.Is(err, context.Canceled):
		return exitOK
	case errors.As(err, &ee):
		if ee.err != nil {
			fmt.Fprintf(stderr, "thingd: %v\n", ee.err)
		}
		return ee.code
	case errors.As(err, &ue), errors.Is(err, config.ErrNotFound), errors.Is(err, config.ErrInvalid):
		fmt.Fprintf(stderr, "thingd: %v\n", err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "thingd: %v\n", err)
		return exitFailure
	}
}

// newFlags returns a FlagSet that reports errors instead of exiting, so Main keeps
// control of the exit code.
func newFlags(name string, e *env) *flag.FlagSet {
	fs := flag.NewFlagSet("thingd "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

// parse parses args and refuses stray positional arguments.
func parse(fs *flag.FlagSet, args []string, positional int) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > positional {
		return usagef("%s: unexpected argument %q", fs.Name(), fs.Arg(positional))
	}
	return nil
}
