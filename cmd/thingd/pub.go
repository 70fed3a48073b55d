package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"thingd/daemon/config"
	"thingd/daemon/local"
)

func pubCmd(ctx context.Context, e *env, args []string) error {
	fs := newFlags("pub", e)
	socket := socketFlags(fs)
	topic := fs.String("topic", "", "topic to publish to; {thing} expands to the thing name")
	qos := fs.Int("qos", 1, "0 or 1")
	message := fs.String("message", "", "the payload")
	file := fs.String("file", "", "read the payload from this file")
	lines := fs.Bool("lines", false, "queue one message per line of standard input")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	given := 0
	for _, set := range []bool{isSet(fs, "message"), *file != "", *lines} {
		if set {
			given++
		}
	}
	if *topic == "" || given != 1 {
		return usagef("pub: need --topic and exactly one of --message, --file or --lines")
	}
	c, err := socket.dial()
	if err != nil {
		return err
	}
	defer c.Close()

	var next func() (local.Request, bool, bool, error)
	switch {
	case *lines:
		next = lineReader(bufio.NewReaderSize(e.stdin, 64<<10), *topic, *qos)
	default:
		payload := []byte(*message)
		if *file != "" {
			if payload, err = os.ReadFile(*file); err != nil {
				return fmt.Errorf("pub: read --file: %w", err)
			}
		}
		sent := false
		next = func() (local.Request, bool, bool, error) {
			if sent {
				return local.Request{}, false, false, nil
			}
			sent = true
			return local.Request{Verb: "PUB", QoS: *qos, Topic: *topic, Payload: payload}, true, false, nil
		}
	}
	queued, refused := 0, 0
	err = c.Stream(ctx, next, func(i int, r local.Response) {
		if r.OK {
			queued++
			return
		}
		refused++
		if *lines {
			fmt.Fprintf(e.stderr, "line %d: %s\n", i+1, r.Text)
		} else {
			fmt.Fprintf(e.stderr, "%s\n", r.Text)
		}
	})
	if err != nil {
		return fmt.Errorf("pub: %w (%d queued before the error)", err, queued)
	}
	if refused > 0 {
		return exitError{code: exitFailure, err: fmt.Errorf("pub: %d queued, %d refused", queued, refused)}
	}
	return nil
}

// lineReader yields one request per line of r, streaming: a backlog of any size is
// never held in memory.
func lineReader(r *bufio.Reader, topic string, qos int) func() (local.Request, bool, bool, error) {
	return func() (local.Request, bool, bool, error) {
		line, err := r.ReadBytes('\n')
		if len(line) == 0 && errors.Is(err, io.EOF) {
			return local.Request{}, false, false, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return local.Request{}, false, false, fmt.Errorf("read standard input: %w", err)
		}
		if n := len(line); n > 0 && line[n-1] == '\n' {
			line = line[:n-1]
		}
		return local.Request{Verb: "PUB", QoS: qos, Topic: topic, Payload: line}, true, r.Buffered() > 0, nil
	}
}

// socketFlag is the --config/--socket pair of the commands that talk to the daemon.
type socketFlag struct{ config, socket *string }

func socketFlags(fs *flag.FlagSet) socketFlag {
	return socketFlag{
		config: fs.String("config", "", "config file, to find local.socket"),
		socket: fs.String("socket", "", "the daemon's socket (default: local.socket from the config)"),
	}
}

func (f socketFlag) dial() (*local.Client, error) {
	path, err := socketPath(*f.socket, *f.config)
	if err != nil {
		return nil, err
	}
	return local.Dial(path)
}

// socketPath finds the daemon: --socket, else local.socket of the config, else the
// default. A config that cannot be read is an error only when it was asked for.
func socketPath(flagSocket, flagConfig string) (string, error) {
	if flagSocket != "" {
		return flagSocket, nil
	}
	cfg, err := config.Load(config.Resolve(flagConfig))
	if err == nil {
		return cfg.Local.Socket, nil
	}
	if flagConfig != "" || os.Getenv(config.EnvPath) != "" {
		return "", err
	}
	return config.Defaults().Local.Socket, nil
}

func isSet(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			found = true
		}
	})
	return found
}
