package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCopyrightNamesEveryLinkedModule runs packaging/copyright.sh for armhf and checks
// /usr/share/doc/thingd/copyright carries a licence section for every module linked
// into cmd/thingd, and thingd's own licence.
func TestCopyrightNamesEveryLinkedModule(t *testing.T) {
	env := append(os.Environ(), "GOOS=linux", "GOARCH=arm", "GOARM=7")
	cmd := exec.Command(filepath.Join(root, "packaging/copyright.sh"))
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("copyright.sh: %v", err)
	}
	text := string(out)
	if !strings.Contains(text, readRepoFile(t, "LICENSE")) {
		t.Error("the copyright file lacks thingd's LICENSE")
	}
	list := exec.Command("go", "list", "-deps", "-f", "{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}}{{end}}{{end}}", "./cmd/thingd")
	list.Dir, list.Env = root, env
	mods, err := list.Output()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range strings.Split(strings.TrimSpace(string(mods)), "\n") {
		if m == "" {
			continue
		}
		n++
		if !strings.Contains(text, "==> "+m+" <==\n\n--- LICENSE") {
			t.Errorf("the copyright file has no licence section for %s", m)
		}
	}
	if n == 0 {
		t.Fatal("go list found no modules linked into cmd/thingd")
	}
}
