package packaging

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// root is the repository root; the tests run in packaging/.
const root = ".."

// readRepoFile returns a file's text by its path from the repository root.
func readRepoFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatalf("read %s: %v", rel, err)
	}
	return string(b)
}

// mustExist fails unless rel names a regular file in the repository.
func mustExist(t *testing.T, rel string) {
	t.Helper()
	fi, err := os.Stat(filepath.Join(root, rel))
	if err != nil {
		t.Fatalf("%s is referenced but missing: %v", rel, err)
	}
	if !fi.Mode().IsRegular() {
		t.Fatalf("%s is referenced but is not a regular file", rel)
	}
}

// version is the package version every packaging path must carry.
func version(t *testing.T) string {
	t.Helper()
	v := strings.TrimSpace(readRepoFile(t, "packaging/VERSION"))
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(v) {
		t.Fatalf("packaging/VERSION = %q, want MAJOR.MINOR.PATCH", v)
	}
	return v
}

var (
	moduleLine = regexp.MustCompile(`(?m)^module\s+(\S+)`)
	goLine     = regexp.MustCompile(`(?m)^go\s+(\d+)\.(\d+)`)
)

// goMod returns the module path and the go directive's MAJOR.MINOR.
func goMod(t *testing.T) (module, goVersion string) {
	t.Helper()
	text := readRepoFile(t, "go.mod")
	m, g := moduleLine.FindStringSubmatch(text), goLine.FindStringSubmatch(text)
	if m == nil || g == nil {
		t.Fatal("go.mod has no module or go line")
	}
	return m[1], g[1] + "." + g[2]
}
