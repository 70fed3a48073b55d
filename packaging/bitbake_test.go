package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var bbAssign = regexp.MustCompile(`^([A-Za-z0-9_${}:\-\[\]]+)\s*(\?\?=|\?=|:=|\+=|=)\s*"(.*)"\s*$`)

// bbVars reads the plain assignments of a recipe or layer.conf (NAME = "v",
// ?=, ??=, :=, +=, with backslash continuations). It is just enough for our
// own files and no substitute for bitbake: nothing is expanded.
func bbVars(t *testing.T, text string) map[string]string {
	t.Helper()
	vars := map[string]string{}
	var logical []string
	var cur strings.Builder
	for _, line := range strings.Split(text, "\n") {
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\"))
			continue
		}
		cur.WriteString(line)
		logical = append(logical, cur.String())
		cur.Reset()
	}
	for _, line := range logical {
		m := bbAssign.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		name, op, val := m[1], m[2], strings.Join(strings.Fields(m[3]), " ")
		switch {
		case op == "+=":
			vars[name] = strings.TrimSpace(vars[name] + " " + val)
		case op == "??=" || op == "?=":
			if _, ok := vars[name]; !ok {
				vars[name] = val
			}
		default:
			vars[name] = val
		}
	}
	return vars
}

func TestBBVars(t *testing.T) {
	vars := bbVars(t, "A = \"1\"\nA ?= \"2\"\nB ?= \"x\"\nC = \"a \\\n   b\"\nC += \"c\"\nD:${PN} := \"d\"\n# E = \"no\"\n")
	want := map[string]string{"A": "1", "B": "x", "C": "a b c", "D:${PN}": "d"}
	for k, v := range want {
		if vars[k] != v {
			t.Errorf("%s = %q, want %q", k, vars[k], v)
		}
	}
	if len(vars) != len(want) {
		t.Errorf("vars = %q, want only %q", vars, want)
	}
}

// TestBitbakeParse parses the layer, in place in this repository, with a real BitBake
// and oe-core: THINGD_BITBAKE names a bitbake checkout (2.8 for scarthgap) and
// THINGD_OECORE the matching openembedded-core checkout. Neither comes from apt or the
// module proxy, so the test is skipped without them (docs/packaging.md says how it was run).
// It needs the en_US.UTF-8 locale and bitbake's HOSTTOOLS (chrpath cpio diffstat gawk).
func TestBitbakeParse(t *testing.T) {
	bb, oe := os.Getenv("THINGD_BITBAKE"), os.Getenv("THINGD_OECORE")
	if bb == "" || oe == "" {
		t.Skip("THINGD_BITBAKE and THINGD_OECORE not set")
	}
	layerDir, err := filepath.Abs(filepath.Join(root, layer))
	if err != nil {
		t.Fatal(err)
	}
	build := t.TempDir()
	if err := os.MkdirAll(filepath.Join(build, "conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"bblayers.conf": "BBPATH = \"${TOPDIR}\"\nBBFILES ?= \"\"\nBBLAYERS = \"" + filepath.Join(oe, "meta") + " " + layerDir + "\"\n",
		// sanity refuses root, which CI is; BB_NO_NETWORK as an offline build has it.
		"local.conf": "MACHINE = \"qemuarm\"\nINIT_MANAGER = \"systemd\"\nBB_NO_NETWORK = \"1\"\nCONF_VERSION = \"2\"\nINHERIT:remove = \"sanity\"\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(build, "conf", name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, dev := range []string{"0", "1"} {
		cmd := exec.Command(filepath.Join(bb, "bin/bitbake"), "-e", "thingd")
		cmd.Dir = build
		cmd.Env = append(os.Environ(), "LANG=en_US.UTF-8", "PATH="+filepath.Join(bb, "bin")+":"+os.Getenv("PATH"),
			"THINGD_DEVBUILD="+dev, "BB_ENV_PASSTHROUGH_ADDITIONS=THINGD_DEVBUILD")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bitbake -e thingd (THINGD_DEVBUILD=%s): %v\n%s", dev, err, tail(out))
		}
		env := string(out)
		want := map[string]string{"REQUIRED_DISTRO_FEATURES": "systemd", "SRCREV": bbVars(t, readRepoFile(t, layer+"/recipes-thingd/thingd/thingd_"+version(t)+".bb"))["THINGD_RELEASE_SRCREV"]}
		if dev == "1" {
			want["SRCREV"] = "AUTOINC"
		}
		for k, v := range want {
			if !strings.Contains(env, "\n"+k+"=\""+v+"\"\n") {
				t.Errorf("THINGD_DEVBUILD=%s: bitbake -e has no %s=%q", dev, k, v)
			}
		}
		if !strings.Contains(env, "\nexport GOPROXY=\"file://") {
			t.Errorf("THINGD_DEVBUILD=%s: GOPROXY is not the file:// tree", dev)
		}
	}
}

func tail(b []byte) []byte {
	if len(b) > 4000 {
		return b[len(b)-4000:]
	}
	return b
}
