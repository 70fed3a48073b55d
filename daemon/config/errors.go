package config

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNotFound means the config file does not exist; ErrInvalid means it exists but
// cannot be used. They are separate so that callers can suggest different fixes.
var (
	ErrNotFound = errors.New("config file not found")
	ErrInvalid  = errors.New("invalid config")
)

// Problem is one thing wrong with a config file, located for the person editing it.
type Problem struct {
	File string
	Line int    // 0 when the key is absent from the file (a required key is missing)
	Key  string // dotted path, e.g. "mqtt.port" or "telemetry[1].interval"
	Msg  string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	if p.Key != "" {
		fmt.Fprintf(&b, ": %s", p.Key)
	}
	fmt.Fprintf(&b, ": %s", p.Msg)
	return b.String()
}

// ValidationError lists every problem found, so one edit can fix them all.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Is makes every ValidationError match ErrInvalid.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }
