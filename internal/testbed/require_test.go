package testbed_test

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"thingd/internal/testbed"
)

// recTB records Skip/Fatal instead of acting on them, so Require's choice can be inspected.
type recTB struct {
	testing.TB
	skipped, fatal string
}

func (r *recTB) Helper()           {}
func (r *recTB) Skip(args ...any)  { r.skipped = fmt.Sprint(args...); runtime.Goexit() }
func (r *recTB) Fatal(args ...any) { r.fatal = fmt.Sprint(args...); runtime.Goexit() }

// Require skips a test whose binary is missing, except under CI=true where it fails, and always
// names the apt-get package that fixes it.
func TestRequire(t *testing.T) {
	for _, tc := range []struct {
		name, ci, bin           string
		wantSkip, wantFatal, ok bool
	}{
		{name: "present", bin: "sh", ok: true},
		{name: "missing skips locally", bin: "no-such-binary-thingd", wantSkip: true},
		{name: "missing fails under CI", ci: "true", bin: "no-such-binary-thingd", wantFatal: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			r := &recTB{TB: t}
			var got string
			done := make(chan struct{})
			go func() {
				defer close(done)
				got = testbed.Require(r, tc.bin, "thingd-test-pkg")
			}()
			<-done
			if (r.skipped != "") != tc.wantSkip || (r.fatal != "") != tc.wantFatal {
				t.Fatalf("skip=%q fatal=%q, want skip=%v fatal=%v", r.skipped, r.fatal, tc.wantSkip, tc.wantFatal)
			}
			if msg := r.skipped + r.fatal; msg != "" && !strings.Contains(msg, "apt-get install -y thingd-test-pkg") {
				t.Errorf("message %q lacks the apt-get hint", msg)
			}
			if tc.ok && !filepath.IsAbs(got) {
				t.Errorf("Require(%q) = %q, want an absolute path", tc.bin, got)
			}
		})
	}
}
