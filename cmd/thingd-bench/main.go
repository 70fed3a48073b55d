// Command thingd-bench measures thingd against real mosquitto and chronyd (`make bench`) and
// runs the chaos test of acknowledged delivery (`make chaos`). A developer tool, not shipped.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage:
  thingd-bench bench [--thingd bin/thingd] [--out docs/BENCHMARKS.md] [--runs 3] [--big 1000000]
  thingd-bench chaos [--thingd bin/thingd] [--out docs/BENCHMARKS.md] [--messages 100000] [--kills 5] ...
                     [--aws [--denies 1] [--drop-pubacks 50]]   (make chaos CHAOS_FLAGS=--aws)
  thingd-bench daemon --config FILE [--cpuprofile F] [--memprofile F]   (thingd run in-process, for pprof)
`

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		// The first signal cancels: every run cleans up its processes on the way out.
		// A second one leaves at once.
		<-sigs
		fmt.Fprintln(os.Stderr, "thingd-bench: stopping, cleaning up (again to leave at once)")
		cancel()
		<-sigs
		os.Exit(130)
	}()
	err := run(ctx, os.Args[1:], os.Stdout)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "thingd-bench: %v\n", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(out, usage)
		return errUsage
	}
	switch args[0] {
	case "bench":
		return benchCmd(ctx, args[1:], out)
	case "chaos":
		return chaosCmd(ctx, args[1:], out)
	case "daemon":
		return daemonCmd(ctx, args[1:])
	default:
		fmt.Fprint(out, usage)
		return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
	}
}
