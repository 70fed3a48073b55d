package testbed_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The production binary must not link the testbed (it starts processes and writes keys).
func TestProductionBinaryDoesNotImportTestbed(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not in PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps", "thingd/cmd/thingd").CombinedOutput()
	if err != nil {
		t.Skipf("thingd/cmd/thingd does not list yet: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "thingd/internal/testbed" || strings.HasPrefix(pkg, "thingd/internal/testbed/") {
			t.Fatalf("thingd/cmd/thingd depends on %s", pkg)
		}
	}
	if !strings.Contains(string(out), "thingd/cmd/thingd") {
		t.Fatalf("go list -deps output lacks thingd/cmd/thingd itself:\n%s", out)
	}
}
