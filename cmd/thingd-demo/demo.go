package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"thingd/internal/devpki"
)

// options are the demo's flags.
type options struct {
	Thingd   string        // the thingd binary to run
	Duration time.Duration // 0: until the context ends (Ctrl-C)
	Every    time.Duration // between two commands from the cloud
}

// stopTimeout bounds thingd's flush at the end, like the unit's TimeoutStopSec.
const stopTimeout = 20 * time.Second

// run sets up a loopback world (certificates, time source, mutual-TLS broker), runs the real
// thingd in it and narrates the traffic until ctx ends or o.Duration has passed.
func run(ctx context.Context, o options, out *printer) (err error) {
	bin, err := filepath.Abs(o.Thingd)
	if err == nil {
		_, err = os.Stat(bin)
	}
	if err != nil {
		return fmt.Errorf("thingd binary %s: %w (run `make build` first, or pass --thingd PATH)", o.Thingd, err)
	}
	dir, err := os.MkdirTemp("", "thingd-demo-")
	if err != nil {
		return fmt.Errorf("make a temporary directory: %w", err)
	}
	defer func() {
		if rmErr := os.RemoveAll(dir); rmErr != nil && err == nil {
			err = fmt.Errorf("clean up %s: %w", dir, rmErr)
		}
		out.printf(srcDemo, "removed %s", dir)
	}()

	pki, err := devpki.New(devpki.Options{Dir: dir, Name: "thingd demo"})
	if err != nil {
		return err
	}
	claimCert, claimKey, err := pki.Issue(demoClaim)
	if err != nil {
		return err
	}
	out.printf(srcDemo, "fresh CA, broker certificate (localhost) and the fleet's claim certificate (CN %s) in %s; "+
		"the device's own certificate comes from provisioning by claim", demoClaim, dir)

	clock, err := startNTP("127.0.0.1:0", func(from net.Addr) {
		out.printf(srcNTP, "answered %s with this machine's time (stratum %d)", from, ntpStratum)
	})
	if err != nil {
		return err
	}
	defer clock.Close()
	out.printf(srcNTP, "time source on udp %s", clock.Addr())

	b, subscribed, err := startNarratedBroker(pki, out)
	if err != nil {
		return err
	}
	defer b.Close()
	out.printf(srcBroker, "AWS-IoT-like broker, MQTT over mutual TLS on %s (client certificate from the demo CA required)", b.Addr())

	_, portText, err := net.SplitHostPort(b.Addr())
	if err != nil {
		return fmt.Errorf("broker address %s: %w", b.Addr(), err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return fmt.Errorf("broker port %q: %w", portText, err)
	}
	cfg := demoConfig{Dir: dir, BrokerPort: port, CAFile: pki.CAFile, ClaimCert: claimCert, ClaimKey: claimKey, NTPAddr: clock.Addr()}
	if err := cfg.write(); err != nil {
		return err
	}
	d, err := startThingd(bin, cfg.path(), out)
	if err != nil {
		return err
	}

	hctx, stopHelpers := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, f := range []func(){
		func() { pubHello(hctx, bin, cfg.socket(), out) },
		func() { cloud(hctx, b, subscribed, o.Every, out) },
		func() { job(hctx, b, subscribed, out) },
		func() { watchHandled(hctx, cfg.commandFile(), out) },
		func() { shadowDesired(hctx, b, subscribed, out) },
	} {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}

	var deadline <-chan time.Time
	if o.Duration > 0 {
		deadline = time.After(o.Duration)
	}
	var early error
	select {
	case <-ctx.Done():
		out.printf(srcDemo, "stopping: thingd gets SIGTERM and flushes")
	case <-deadline:
		out.printf(srcDemo, "%v passed: thingd gets SIGTERM and flushes", o.Duration)
	case <-d.done:
		early = fmt.Errorf("thingd exited on its own: %v (its log is above)", d.err)
	}
	stopHelpers()
	wg.Wait()
	if early != nil {
		return early
	}
	if err := d.stop(stopTimeout); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("thingd exited with status %d after SIGTERM, want 0", ee.ExitCode())
		}
		return err
	}
	out.printf(srcDemo, "thingd exited with status 0")
	return nil
}
