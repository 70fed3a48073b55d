// Command thingd-demo runs the real thingd against a mutual-TLS MQTT broker and an NTP server
// on loopback, with fresh certificates, and shows the messages flowing both ways (make demo).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	fs := flag.NewFlagSet("thingd-demo", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.Thingd, "thingd", "bin/thingd", "the thingd binary to run")
	fs.DurationVar(&o.Duration, "duration", 0, "stop after this long (0: run until Ctrl-C)")
	fs.DurationVar(&o.Every, "every", 7*time.Second, "time between two commands from the cloud")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if fs.NArg() > 0 || o.Every <= 0 || o.Duration < 0 {
		fmt.Fprintln(os.Stderr, "usage: thingd-demo [--thingd PATH] [--duration D] [--every D]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C ends the demo at once
	}()
	out := newPrinter(os.Stdout)
	out.printf(srcDemo, "thingd demo: Ctrl-C to stop")
	if err := run(ctx, o, out); err != nil {
		fmt.Fprintf(os.Stderr, "thingd-demo: %v\n", err)
		os.Exit(1)
	}
}
