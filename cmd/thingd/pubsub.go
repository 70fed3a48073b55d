package main

import (
	"context"
	stdtls "crypto/tls"
	"os/signal"
	"syscall"

	"thingd/daemon/pubsub"
	thingtls "thingd/tls"
)

// pubsubCmd is the SDK's mqtt5_pubsub sample on thingd's own TLS and session code, so a
// person following the seed swaps the command name and gets the same round trips.
func pubsubCmd(ctx context.Context, e *env, args []string) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	code := pubsub.PubSub(ctx, args, e.stdout, e.stderr, func(ca, cert, key, endpoint string, port int) (*stdtls.Config, error) {
		c, err := thingtls.Load(thingtls.Options{Host: endpoint, Port: port, CAFile: ca, CertFile: cert, KeyFile: key})
		if err != nil {
			return nil, err
		}
		return c.Config, nil
	})
	if code != exitOK {
		return exitError{code: code}
	}
	return nil
}
