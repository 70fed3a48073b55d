package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// binary is the real thingd, built once for the tests that run it as a user would.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "thingd-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "thingd")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		panic("build thingd: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func runThingd(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

// TestRunBadConfig: a config with an unknown key on line 7 exits 2 and names the file,
// the line and the key; a missing file exits 2 naming the path (issue 2's acceptance).
func TestRunBadConfig(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	doc := "version = 1\n\n[mqtt]\nendpoint = \"a1-ats.iot.eu-west-1.amazonaws.com\"\nclient_id = \"pi\"\n# the next key is misspelt\nkeep_alive = \"60s\"\n"
	if err := os.WriteFile(bad, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runThingd(t, nil, "run", "--config", bad)
	if code != 2 || !strings.Contains(stderr, bad+":7:") || !strings.Contains(stderr, "keep_alive") {
		t.Errorf("exit %d, stderr %q; want 2 naming %s:7 and keep_alive", code, stderr, bad)
	}

	missing := filepath.Join(dir, "missing.toml")
	_, stderr, code = runThingd(t, nil, "run", "--config", missing)
	if code != 2 || !strings.Contains(stderr, missing) || !strings.Contains(stderr, "not found") {
		t.Errorf("exit %d, stderr %q; want 2 naming %s", code, stderr, missing)
	}

	// THINGD_CONFIG is used when --config is absent, and --config wins over it.
	_, stderr, code = runThingd(t, []string{"THINGD_CONFIG=" + missing}, "run")
	if code != 2 || !strings.Contains(stderr, missing) {
		t.Errorf("THINGD_CONFIG ignored: exit %d, %q", code, stderr)
	}
	_, stderr, _ = runThingd(t, []string{"THINGD_CONFIG=" + missing}, "run", "--config", bad)
	if !strings.Contains(stderr, bad) {
		t.Errorf("--config did not win over THINGD_CONFIG: %q", stderr)
	}
}

func TestVersionAndUsage(t *testing.T) {
	out, _, code := runThingd(t, nil, "version")
	if code != 0 || !strings.Contains(out, "thingd ") || !strings.Contains(out, runtime.Version()) || !strings.Contains(out, "commit ") {
		t.Errorf("version: exit %d, %q", code, out)
	}
	for _, args := range [][]string{{}, {"frobnicate"}, {"run", "--nope"}, {"version", "extra"}} {
		if _, _, code := runThingd(t, nil, args...); code != 2 {
			t.Errorf("thingd %v exited %d, want 2 (usage)", args, code)
		}
	}
}

// TestMainInProcess covers the dispatcher without a subprocess, for the race detector.
func TestMainInProcess(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"help"}, nil, &out, &errb); code != 0 || !strings.Contains(out.String(), "pubsub") {
		t.Errorf("help: %d %q", code, out.String())
	}
}
