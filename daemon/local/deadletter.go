package local

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// The DEADLETTER request lists, retries or discards dead letters (docs/deadletter.md):
//
//	DEADLETTER list\n
//	DEADLETTER retry <seq>|all\n
//	DEADLETTER discard <seq>|all\n
//
// answered "OK <json>" (the letters listed, or those retried or discarded) or "ERR <reason>".

// DeadLetterBackend is what a Backend implements to answer DEADLETTER; a Backend without
// it answers ERR.
type DeadLetterBackend interface {
	// DeadLetters runs op ("list", "retry" or "discard") on the letters seqs selects (nil:
	// all) and returns the JSON-encodable answer.
	DeadLetters(ctx context.Context, op string, seqs []uint64) (any, error)
}

func readDeadLetter(rest string) (Request, error) {
	op, arg, _ := strings.Cut(rest, " ")
	switch op {
	case "list":
		if arg != "" {
			return Request{}, fmt.Errorf("%w: DEADLETTER list takes no argument", ErrProtocol)
		}
	case "retry", "discard":
		if arg != "all" {
			if _, err := strconv.ParseUint(arg, 10, 64); err != nil {
				return Request{}, fmt.Errorf("%w: DEADLETTER %s wants a seq or \"all\", not %q", ErrProtocol, op, truncate(arg))
			}
		}
	default:
		return Request{}, fmt.Errorf("%w: DEADLETTER wants list, retry or discard, not %q", ErrProtocol, truncate(op))
	}
	return Request{Verb: "DEADLETTER", Topic: rest}, nil
}

// deadLetter answers one DEADLETTER request (req.Topic holds "<op>[ <arg>]").
func (s *Server) deadLetter(ctx context.Context, req Request) Response {
	b, ok := s.Backend.(DeadLetterBackend)
	if !ok {
		return Response{Text: "this thingd keeps no dead letters"}
	}
	op, arg, _ := strings.Cut(req.Topic, " ")
	var seqs []uint64
	if arg != "" && arg != "all" {
		n, _ := strconv.ParseUint(arg, 10, 64) // checked by readDeadLetter
		seqs = []uint64{n}
	}
	v, err := b.DeadLetters(ctx, op, seqs)
	if err != nil {
		return Response{Text: err.Error()}
	}
	j, err := json.Marshal(v)
	if err != nil {
		return Response{Text: err.Error()}
	}
	return Response{OK: true, Text: string(j)}
}

// DeadLetters sends one DEADLETTER request: op is "list", "retry" or "discard", arg a seq,
// "all", or "" for list. It returns the daemon's JSON answer.
func (c *Client) DeadLetters(op, arg string) (json.RawMessage, error) {
	line := "DEADLETTER " + op
	if arg != "" {
		line += " " + arg
	}
	if strings.ContainsAny(line, "\r\n") {
		return nil, fmt.Errorf("dead-letter argument %q contains a line break", arg)
	}
	return c.ask(func(w *bufio.Writer) error {
		_, err := w.WriteString(line + "\n")
		return err
	})
}
