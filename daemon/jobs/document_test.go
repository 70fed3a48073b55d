package jobs

import (
	"errors"
	"slices"
	"testing"
)

var planHandlers = map[string]Handler{
	"a.sh": {Operation: "a.sh", Exec: []string{"/bin/a"}},
	"b.sh": {Operation: "b.sh", Exec: []string{"/bin/b"}},
	"op":   {Operation: "op", Exec: []string{"/bin/op"}},
}

// TestPlan: both schemas give the steps in order (finalStep last), with their handler and
// args; ignoreStepFailure is read as AWS writes it (a string) or as a boolean; a document
// naming an unconfigured operation, or of no known shape, is refused.
func TestPlan(t *testing.T) {
	tests := []struct {
		name, doc string
		want      []string // operation:args... per step, "!" suffix for ignoreStepFailure
		refused   bool
	}{
		{"old schema", `{"operation":"op","args":["x","y"]}`, []string{"op:x,y"}, false},
		{"steps and final", `{"version":"1.0","steps":[{"action":{"name":"A","type":"runHandler","input":{"handler":"a.sh","args":["1"]},"ignoreStepFailure":"true"}},
			{"action":{"name":"B","type":"runHandler","input":{"handler":"b.sh"},"ignoreStepFailure":false}}],
			"finalStep":{"action":{"name":"F","type":"runHandler","input":{"handler":"a.sh","args":["cleanup"]}}}}`,
			[]string{"a.sh:1!", "b.sh:", "a.sh:cleanup"}, false},
		{"unknown operation", `{"operation":"rm"}`, nil, true},
		{"unknown step handler", `{"version":"1.0","steps":[{"action":{"type":"runHandler","input":{"handler":"c.sh"}}}]}`, nil, true},
		{"unknown action type", `{"version":"1.0","steps":[{"action":{"type":"runShell","input":{"handler":"a.sh"}}}]}`, nil, true},
		{"no shape", `{"foo":1}`, nil, true},
		{"not an object", `[1,2]`, nil, true},
		{"bad ignoreStepFailure", `{"version":"1.0","steps":[{"action":{"type":"runHandler","input":{"handler":"a.sh"},"ignoreStepFailure":"maybe"}}]}`, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			steps, err := plan([]byte(tc.doc), planHandlers)
			if tc.refused {
				if !errors.Is(err, errRefused) {
					t.Fatalf("got %v, %v; want refused", steps, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range steps {
				g := s.Operation + ":"
				for i, a := range s.Args {
					if i > 0 {
						g += ","
					}
					g += a
				}
				if s.IgnoreFailure {
					g += "!"
				}
				if s.Handler.Operation != s.Operation {
					t.Errorf("step %s has the handler of %s", s.Operation, s.Handler.Operation)
				}
				got = append(got, g)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("steps %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSplitCommand(t *testing.T) {
	for in, want := range map[string][]string{
		"echo,hello":          {"echo", "hello"},
		`echo,a\,b,c`:         {"echo", "a,b", "c"},
		"ls":                  {"ls"},
		`sh,-c,rm -rf / \, x`: {"sh", "-c", "rm -rf / , x"},
	} {
		if got := splitCommand(in); !slices.Equal(got, want) {
			t.Errorf("splitCommand(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzPlan: any document either is refused or gives steps that each run a configured
// handler; statusDetails made from anything stay within AWS's limits.
func FuzzPlan(f *testing.F) {
	f.Add([]byte(`{"operation":"op","args":["x"]}`))
	f.Add([]byte(`{"version":"1.0","steps":[{"action":{"name":"A","type":"runCommand","input":{"command":"a,b\\,c"}}}]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		steps, err := plan(doc, map[string]Handler{"op": planHandlers["op"], OpRunCommand: {Operation: OpRunCommand, Exec: []string{"/usr/bin/env"}}})
		if err == nil {
			for _, s := range steps {
				if len(s.Handler.Exec) == 0 {
					t.Fatalf("step %+v without a configured handler", s)
				}
			}
		}
		d := details{}.set("a", string(doc)).tail("b", string(doc))
		for k, v := range d {
			if !validDetail(v) {
				t.Fatalf("%s = %q is outside AWS's limits", k, v)
			}
		}
	})
}
