// Command thingd connects an embedded Linux board to AWS IoT Core and keeps it connected.
// This file only dispatches; each subcommand lives in its own file.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Main runs one subcommand and returns the process exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	env := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	cmd, ok := commands[args[0]]
	if !ok {
		if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
			usage(stdout)
			return exitOK
		}
		fmt.Fprintf(stderr, "thingd: unknown command %q\n", args[0])
		usage(stderr)
		return exitUsage
	}
	return exitCode(stderr, cmd.run(ctx, env, args[1:]))
}

type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

type command struct {
	run     func(ctx context.Context, e *env, args []string) error
	summary string
}

var commands = map[string]command{
	"run":     {runCmd, "run the daemon (systemd's ExecStart)"},
	"check":   {checkCmd, "diagnose every step from files to a round trip"},
	"pub":     {pubCmd, "queue messages through the running daemon"},
	"status":  {statusCmd, "show connection, clock, queue and counters"},
	"import":  {importCmd, "set up from the AWS console's connect kit"},
	"pubsub":  {pubsubCmd, "the AWS SDK sample's round trip, no daemon needed"},
	"version": {versionCmd, "print version, commit and Go version"},

	"deadletter": {deadLetterCmd, "list, retry or discard the messages the broker refused"},
	"shadow":     {shadowCmd, "get, update or delete a shadow of the thing through the daemon"},
	"provision":  {provisionCmd, "fleet provisioning by claim, once"},
	"rotate":     {rotateCmd, "a new key and certificate now, through the running daemon"},
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: thingd COMMAND [flags]  (thingd COMMAND -h for its flags)")
	for _, name := range []string{"run", "check", "pub", "status", "shadow", "deadletter", "import", "provision", "rotate", "pubsub", "version"} {
		fmt.Fprintf(w, "  %-10s %s\n", name, commands[name].summary)
	}
}
