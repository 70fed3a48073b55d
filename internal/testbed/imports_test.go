package testbed_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

// importRule forbids every package matching from to link (directly or through others)
// any package matching to. Matching is by import path prefix on whole path elements, so
// a rule written for a package that does not exist yet (daemon/uplink, daemon/deadletter)
// holds as soon as it appears. docs/ARCHITECTURE.md draws the same directions.
type importRule struct {
	from, to []string
	why      string
}

var importRules = []importRule{
	{from: []string{"thingd/daemon"}, to: []string{"thingd/cmd", "thingd/internal/testbed", "thingd/internal/devpki"},
		why: "the daemon is below the commands and never carries test infrastructure"},
	{from: []string{"thingd/clock", "thingd/tls", "thingd/systemd", "thingd/internal/atomicfile", "thingd/internal/human"}, to: []string{"thingd/daemon", "thingd/cmd"},
		why: "clock, tls, systemd and the shared helpers sit below the daemon"},
	{from: []string{"thingd/internal/atomicfile", "thingd/internal/human"}, to: []string{"thingd/clock", "thingd/tls", "thingd/systemd"},
		why: "the shared helpers are the bottom layer"},
	{from: []string{"thingd/cmd/thingd"}, to: []string{"thingd/internal/testbed", "thingd/internal/devpki", "github.com/mochi-mqtt"},
		why: "the production binary links no test broker, launcher or test PKI"},
	{from: []string{"thingd/daemon/config", "thingd/daemon/limits", "thingd/daemon/local", "thingd/daemon/queue", "thingd/daemon/session",
		"thingd/daemon/uplink", "thingd/daemon/handler", "thingd/daemon/telemetry", "thingd/daemon/deadletter",
		"thingd/daemon/shadow", "thingd/daemon/jobs", "thingd/daemon/provision", "thingd/daemon/status"},
		to: []string{"=thingd/daemon"}, why: "the parts never reach back into the supervisor that wires them"},
	{from: []string{"thingd/daemon/session"}, to: []string{"thingd/daemon/queue", "thingd/daemon/local", "thingd/daemon/uplink"},
		why: "the session publishes what it is handed; it knows nothing of where messages wait"},
	{from: []string{"thingd/daemon/uplink"}, to: []string{"thingd/daemon/local"},
		why: "the uplink reads the queue; the socket is upstream of the queue"},
	{from: []string{"thingd/daemon/queue"}, to: []string{"thingd/daemon/session", "thingd/daemon/uplink"},
		why: "messages flow socket → queue → uplink → session, never back"},
	{from: []string{"thingd/daemon/local"}, to: []string{"thingd/daemon/session", "thingd/daemon/uplink"},
		why: "the socket hands messages to the queue, not to the network"},
	{from: []string{"thingd/daemon/shadow", "thingd/daemon/jobs", "thingd/daemon/provision", "thingd/daemon/deadletter"},
		to:  []string{"thingd/daemon/uplink", "thingd/daemon/local"},
		why: "device services talk to the session through their own small interface"},
}

// pathMatches: "=p" matches p only; "p" matches p and p/...
func pathMatches(pattern, path string) bool {
	if exact, ok := strings.CutPrefix(pattern, "="); ok {
		return path == exact
	}
	return path == pattern || strings.HasPrefix(path, pattern+"/")
}

func anyMatches(patterns []string, path string) bool {
	for _, p := range patterns {
		if pathMatches(p, path) {
			return true
		}
	}
	return false
}

// violations lists "pkg links dep (why)" for every rule broken by graph (package → its
// transitive non-test dependencies).
func violations(graph map[string][]string) []string {
	var out []string
	for pkg, deps := range graph {
		for _, r := range importRules {
			if !anyMatches(r.from, pkg) {
				continue
			}
			for _, d := range deps {
				if anyMatches(r.to, d) {
					out = append(out, pkg+" links "+d+" ("+r.why+")")
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// moduleGraph runs `go list -deps -json thingd/...` and keeps, for each of the module's
// packages, its transitive non-test dependencies.
func moduleGraph(t *testing.T) map[string][]string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not in PATH")
	}
	var stderr bytes.Buffer
	cmd := exec.Command(goBin, "list", "-deps", "-json", "thingd/...")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps -json thingd/...: %v\n%s", err, stderr.Bytes())
	}
	graph := map[string][]string{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath string
			Deps       []string
			Module     *struct{ Path string }
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		if p.Module != nil && p.Module.Path == "thingd" {
			graph[p.ImportPath] = p.Deps
		}
	}
	return graph
}

// TestImportDirections: the import graph keeps the directions docs/ARCHITECTURE.md draws.
func TestImportDirections(t *testing.T) {
	graph := moduleGraph(t)
	// Guard against a vacuous pass: the packages the rules are about must be in the graph.
	for _, want := range []string{"thingd/cmd/thingd", "thingd/daemon", "thingd/daemon/session", "thingd/daemon/queue", "thingd/clock"} {
		if _, ok := graph[want]; !ok {
			t.Fatalf("go list output lacks %s; got %d packages", want, len(graph))
		}
	}
	for _, v := range violations(graph) {
		t.Error(v)
	}
}

// TestImportRulesCatch: each kind of breach the rules exist for is reported.
func TestImportRulesCatch(t *testing.T) {
	for _, tc := range []struct{ pkg, dep string }{
		{"thingd/cmd/thingd", "thingd/internal/testbed"},
		{"thingd/cmd/thingd", "thingd/internal/testbed/awsiot"},
		{"thingd/cmd/thingd", "thingd/internal/devpki"},
		{"thingd/daemon", "thingd/cmd/thingd/internal/check"},
		{"thingd/daemon/uplink", "thingd/internal/testbed"},
		{"thingd/clock", "thingd/daemon/config"},
		{"thingd/internal/human", "thingd/tls"},
		{"thingd/systemd", "thingd/daemon"},
		{"thingd/daemon/session", "thingd/daemon/queue"},
		{"thingd/daemon/uplink", "thingd/daemon/local"},
		{"thingd/daemon/queue", "thingd/daemon/session"},
		{"thingd/daemon/deadletter", "thingd/daemon"},
		{"thingd/daemon/shadow", "thingd/daemon/uplink"},
	} {
		if v := violations(map[string][]string{tc.pkg: {tc.dep}}); len(v) != 1 {
			t.Errorf("%s linking %s: got %q, want one violation", tc.pkg, tc.dep, v)
		}
	}
	// Allowed directions stay allowed.
	for _, tc := range []struct{ pkg, dep string }{
		{"thingd/daemon", "thingd/daemon/session"},
		{"thingd/daemon/uplink", "thingd/daemon/queue"},
		{"thingd/daemon/uplink", "thingd/daemon/session"},
		{"thingd/cmd/thingd-bench", "thingd/internal/testbed"},
		{"thingd/cmd/thingd/internal/check", "thingd/daemon/session"},
		{"thingd/clock", "thingd/internal/atomicfile"},
		{"thingd/tls", "thingd/internal/human"},
	} {
		if v := violations(map[string][]string{tc.pkg: {tc.dep}}); len(v) != 0 {
			t.Errorf("%s linking %s is allowed, got %q", tc.pkg, tc.dep, v)
		}
	}
}
