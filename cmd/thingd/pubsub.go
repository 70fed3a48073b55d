package main

import (
	"context"
	stdtls "crypto/tls"
	"errors"
	"os/signal"
	"strings"
	"syscall"

	"thingd/cmd/thingd/internal/pubsub"
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
			return nil, withFlagNames(err)
		}
		return c.Config, nil
	})
	if code != exitOK {
		return exitError{code: code}
	}
	return nil
}

// sampleFlags are pubsub's names for the files the daemon's config calls mqtt.*_file.
var sampleFlags = map[string]string{"mqtt.ca_file": "--ca_file", "mqtt.cert_file": "--cert", "mqtt.key_file": "--key"}

// withFlagNames rewords the tls package's file errors for a person typing the SDK
// sample's flags, who has no config file to edit.
func withFlagNames(err error) error {
	var out []error
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, inner := range j.Unwrap() {
				walk(inner)
			}
			return
		}
		if fe, ok := e.(*thingtls.FileError); ok {
			c := *fe
			key := fe.Role.ConfigKey()
			c.Fix = strings.ReplaceAll(c.Fix, "set "+key, "pass the right path to "+sampleFlags[key])
			c.Fix = strings.ReplaceAll(c.Fix, key, sampleFlags[key])
			e = &c
		}
		out = append(out, e)
	}
	walk(err)
	return errors.Join(out...)
}
