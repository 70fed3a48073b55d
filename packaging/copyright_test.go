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
// into cmd/thingd, thingd's own licence, and both licences of the dual-licensed paho.
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
	// paho is EPL-2.0 or EDL-1.0 at the recipient's choice; its LICENSE carries only
	// the EPL's text, so the EDL's (a BSD licence with its own notice) must come too.
	start := strings.Index(text, "==> github.com/eclipse/paho.mqtt.golang ")
	if start < 0 {
		t.Fatal("the copyright file has no section for github.com/eclipse/paho.mqtt.golang")
	}
	paho := text[start:]
	if i := strings.Index(paho[1:], "\n==> "); i >= 0 {
		paho = paho[:i+1]
	}
	for _, want := range []string{"Eclipse Public License - v 2.0", "--- edl-v10 ---\n", "Eclipse Distribution License - v 1.0"} {
		if !strings.Contains(paho, want) {
			t.Errorf("the copyright file's paho section lacks %q", want)
		}
	}
}
