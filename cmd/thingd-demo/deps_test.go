package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The production binary carries neither the demo broker nor the demo's certificate maker.
func TestProductionBinaryDoesNotCarryTheDemo(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not in PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps", "thingd/cmd/thingd").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps thingd/cmd/thingd: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 || deps[len(deps)-1] != "thingd/cmd/thingd" {
		t.Fatalf("unexpected go list output:\n%s", out)
	}
	for _, pkg := range deps {
		if strings.HasPrefix(pkg, "github.com/mochi-mqtt/") || pkg == "thingd/internal/devpki" || pkg == "thingd/cmd/thingd-demo" {
			t.Errorf("thingd/cmd/thingd depends on %s", pkg)
		}
	}
}
