package jobs

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Handler is one configured operation ([[jobs.handler]]).
type Handler struct {
	Operation string
	Exec      []string
	Timeout   time.Duration
	Reboot    bool
}

// step is one program to run for a job: the configured handler and the document's args.
type step struct {
	Name          string
	Operation     string
	Args          []string
	IgnoreFailure bool
	Handler       Handler
}

// document is both job document schemas the AWS IoT Device Client reads: the standard
// "version 1.0" one with steps of actions (AWS managed templates such as AWS-Reboot,
// AWS-Run-Command, AWS-Download-File) and the older {"operation", "args"} one.
type document struct {
	Version   string    `json:"version"`
	Steps     []wrapped `json:"steps"`
	FinalStep *wrapped  `json:"finalStep"`
	Operation string    `json:"operation"`
	Args      []string  `json:"args"`
}

type wrapped struct {
	Action *action `json:"action"`
}

type action struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Input struct {
		Handler string   `json:"handler"`
		Args    []string `json:"args"`
		Command string   `json:"command"`
	} `json:"input"`
	// A string in AWS's schema ("true"), accepted as a JSON boolean too.
	IgnoreStepFailure json.RawMessage `json:"ignoreStepFailure"`
}

// OpRunCommand is the operation name of AWS-Run-Command's runCommand steps.
const OpRunCommand = "runCommand"

// errRefused marks a document thingd will not run; the job is reported REJECTED.
var errRefused = errors.New("job refused")

// plan turns a job document into the steps to run, each with its handler. finalStep comes
// last. A document whose operation has no handler is refused before anything runs.
func plan(doc []byte, handlers map[string]Handler) ([]step, error) {
	var d document
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("%w: the job document is not a JSON object of a known schema: %v", errRefused, err)
	}
	var steps []step
	switch {
	case len(d.Steps) > 0:
		all := d.Steps
		if d.FinalStep != nil {
			all = append(all[:len(all):len(all)], *d.FinalStep)
		}
		for i, w := range all {
			if w.Action == nil {
				return nil, fmt.Errorf("%w: steps[%d] has no action", errRefused, i)
			}
			s, err := fromAction(w.Action)
			if err != nil {
				return nil, fmt.Errorf("%w: steps[%d] (%s): %v", errRefused, i, w.Action.Name, err)
			}
			steps = append(steps, s)
		}
	case d.Operation != "":
		steps = []step{{Name: d.Operation, Operation: d.Operation, Args: d.Args}}
	default:
		return nil, fmt.Errorf("%w: the job document has neither \"steps\" nor \"operation\"", errRefused)
	}
	for i := range steps {
		h, ok := handlers[steps[i].Operation]
		if !ok {
			return nil, fmt.Errorf("%w: no [[jobs.handler]] for operation %q in thingd's config", errRefused, steps[i].Operation)
		}
		steps[i].Handler = h
	}
	return steps, nil
}

func fromAction(a *action) (step, error) {
	s := step{Name: a.Name}
	switch a.Type {
	case "runHandler":
		if a.Input.Handler == "" {
			return s, errors.New("runHandler without input.handler")
		}
		s.Operation, s.Args = a.Input.Handler, a.Input.Args
	case OpRunCommand:
		if a.Input.Command == "" {
			return s, errors.New("runCommand without input.command")
		}
		s.Operation, s.Args = OpRunCommand, splitCommand(a.Input.Command)
	default:
		return s, fmt.Errorf("action type %q; thingd runs runHandler and runCommand", a.Type)
	}
	if s.Name == "" {
		s.Name = s.Operation
	}
	switch v := strings.Trim(string(a.IgnoreStepFailure), `"`); v {
	case "", "false", "null":
	case "true":
		s.IgnoreFailure = true
	default:
		return s, fmt.Errorf("ignoreStepFailure %s; use \"true\" or \"false\"", a.IgnoreStepFailure)
	}
	return s, nil
}

// splitCommand splits AWS-Run-Command's command at commas; "\," is a comma inside an argument.
func splitCommand(c string) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(c); i++ {
		switch {
		case c[i] == '\\' && i+1 < len(c) && c[i+1] == ',':
			cur.WriteByte(',')
			i++
		case c[i] == ',':
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c[i])
		}
	}
	return append(out, cur.String())
}
