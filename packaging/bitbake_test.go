package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
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

// TestBitbakeParse parses the layer with a real BitBake and openembedded-core for each
// release in its LAYERSERIES_COMPAT, used in place in this repository as its README tells
// users (BBLAYERS names packaging/yocto/meta-thingd of this checkout). For each release
// bitbake must accept the layer (it refuses a layer whose LAYERSERIES_COMPAT lacks the
// core's series), parse oe-core's recipes and thingd's with the classes it inherits, resolve the
// whole task graph of `bitbake thingd` (a dry run, -n: every dependency has a provider
// in that release), and give the recipe's expected variables; a THINGD_DEVBUILD build
// must take AUTOREV.
//
// THINGD_YOCTO_TREES names a directory with one subdirectory per release, each holding
// bitbake/ and oe-core/ (an openembedded-core or poky tree); docs/packaging.md says how
// the ones it was run with were made. Neither apt nor the module proxy has them, so the
// test is skipped without it; a release with no tree there is skipped by name, and the
// summary says which releases were parsed (a directory with no release's tree fails). It needs the en_US.UTF-8 locale and
// bitbake's HOSTTOOLS (chrpath cpio diffstat gawk).
func TestBitbakeParse(t *testing.T) {
	trees := os.Getenv("THINGD_YOCTO_TREES")
	if trees == "" {
		t.Skip("THINGD_YOCTO_TREES not set (a directory of <release>/bitbake and <release>/oe-core trees)")
	}
	if fi, err := os.Stat(trees); err != nil || !fi.IsDir() {
		t.Fatalf("THINGD_YOCTO_TREES=%s is no directory (%v)", trees, err)
	}
	releases := strings.Fields(bbVars(t, readRepoFile(t, layer+"/conf/layer.conf"))["LAYERSERIES_COMPAT_thingd"])
	if len(releases) == 0 {
		t.Fatal("layer.conf has no LAYERSERIES_COMPAT_thingd")
	}
	layerDir, err := filepath.Abs(filepath.Join(root, layer))
	if err != nil {
		t.Fatal(err)
	}
	var parsed, missing, failed []string
	for _, rel := range releases {
		dir := filepath.Join(trees, rel)
		if _, err := os.Stat(filepath.Join(dir, "bitbake/bin/bitbake")); err != nil {
			t.Run(rel, func(t *testing.T) {
				missing = append(missing, rel)
				t.Skipf("no bitbake tree for %s: %v", rel, err)
			})
			continue
		}
		// Recorded from inside, as t.Run also reports true for a subtest -run leaves out.
		t.Run(rel, func(t *testing.T) {
			defer func() {
				if t.Failed() {
					failed = append(failed, rel)
				} else {
					parsed = append(parsed, rel)
				}
			}()
			bitbakeParse(t, rel, dir, layerDir)
		})
	}
	t.Logf("LAYERSERIES_COMPAT %q: parsed %q, failed %q, no tree %q", releases, parsed, failed, missing)
	// Trees for some releases test those; trees for none is a wrong directory, not a pass.
	if len(parsed)+len(failed) == 0 && len(missing) > 0 {
		t.Errorf("THINGD_YOCTO_TREES=%s has a tree for none of %q", trees, missing)
	}
}

var bbVersion = regexp.MustCompile(`(?m)^__version__ = "([0-9.]+)"`)

// bitbakeParse runs one release's checks in a fresh build directory.
func bitbakeParse(t *testing.T, rel, dir, layerDir string) {
	bb, oe := filepath.Join(dir, "bitbake"), filepath.Join(dir, "oe-core")
	// The tree must be the release it is filed under, or the test proves nothing about it.
	coreConf, err := os.ReadFile(filepath.Join(oe, "meta/conf/layer.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if names := strings.Fields(bbVars(t, string(coreConf))["LAYERSERIES_CORENAMES"]); !slices.Contains(names, rel) {
		t.Fatalf("%s is oe-core for %q, not %s", oe, names, rel)
	}
	// The sanity class, removed below, is what compares bitbake with BB_MIN_VERSION.
	initPy, err := os.ReadFile(filepath.Join(bb, "lib/bb/__init__.py"))
	if err != nil {
		t.Fatal(err)
	}
	m := bbVersion.FindSubmatch(initPy)
	if m == nil {
		t.Fatalf("%s/lib/bb/__init__.py has no __version__", bb)
	}
	sanityConf, err := os.ReadFile(filepath.Join(oe, "meta/conf/sanity.conf"))
	if err != nil {
		t.Fatal(err)
	}
	bbv, minv := string(m[1]), bbVars(t, string(sanityConf))["BB_MIN_VERSION"]
	if versionLess(bbv, minv) {
		t.Fatalf("bitbake %s is older than %s's BB_MIN_VERSION %s", bbv, rel, minv)
	}
	// TestGoFloor holds go.mod to the lowest of releaseGo; this holds releaseGo to the trees.
	gos, err := filepath.Glob(filepath.Join(oe, "meta/recipes-devtools/go/go_*.bb"))
	if err != nil || len(gos) != 1 {
		t.Fatalf("%s: want one go recipe, found %q (%v)", rel, gos, err)
	}
	gov := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(gos[0]), "go_"), ".bb")
	if parts := strings.Split(gov, "."); len(parts) < 2 || parts[0]+"."+parts[1] != releaseGo[rel] {
		t.Errorf("%s builds with Go %s, releaseGo says %s", rel, gov, releaseGo[rel])
	}
	t.Logf("%s: bitbake %s (oe-core needs %s), Go %s", rel, bbv, minv, gov)

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
	run := func(dev string, args ...string) string {
		t.Helper()
		start := time.Now()
		cmd := exec.Command(filepath.Join(bb, "bin/bitbake"), args...)
		cmd.Dir = build
		cmd.Env = append(os.Environ(), "LANG=en_US.UTF-8", "LC_ALL=en_US.UTF-8", "PATH="+filepath.Join(bb, "bin")+":"+os.Getenv("PATH"),
			"THINGD_DEVBUILD="+dev, "BB_ENV_PASSTHROUGH_ADDITIONS=THINGD_DEVBUILD")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: bitbake %s (THINGD_DEVBUILD=%s): %v\n%s", rel, strings.Join(args, " "), dev, err, tail(out))
		}
		t.Logf("%s: bitbake %s (THINGD_DEVBUILD=%s): %.0fs", rel, strings.Join(args, " "), dev, time.Since(start).Seconds())
		// A warning about the layer or recipe (a deprecated variable, a renamed class) is
		// how a release says it will stop taking it; other warnings are the host's.
		for _, line := range strings.Split(string(out), "\n") {
			switch {
			case strings.HasPrefix(line, "WARNING:") && strings.Contains(line, "thingd"):
				t.Errorf("%s: bitbake %s: %s", rel, strings.Join(args, " "), line)
			case strings.HasPrefix(line, "Parsing of "), strings.HasPrefix(line, "NOTE: Tasks Summary:"):
				t.Logf("%s: %s", rel, line)
			}
		}
		return string(out)
	}
	check := func(dev, env string) {
		t.Helper()
		want := map[string]string{
			"REQUIRED_DISTRO_FEATURES": "systemd",
			"SRCREV":                   bbVars(t, readRepoFile(t, layer+"/recipes-thingd/thingd/thingd_"+version(t)+".bb"))["THINGD_RELEASE_SRCREV"],
			"THINGD_SRC_REPO":          filepath.Dir(filepath.Dir(filepath.Dir(layerDir))),
			"SYSTEMD_SERVICE:thingd":   "thingd.service",
		}
		if dev == "1" {
			want["SRCREV"] = "AUTOINC"
		}
		for k, v := range want {
			if !strings.Contains(env, "\n"+k+"=\""+v+"\"\n") {
				t.Errorf("%s, THINGD_DEVBUILD=%s: bitbake -e has no %s=%q", rel, dev, k, v)
			}
		}
		if !strings.Contains(env, "\nexport GOPROXY=\"file://") {
			t.Errorf("%s, THINGD_DEVBUILD=%s: GOPROXY is not the file:// tree", rel, dev)
		}
	}
	// A full parse of oe-core and the layer, and the task graph of a build of thingd.
	if out := run("0", "-n", "thingd"); !strings.Contains(out, "\nmeta-thingd ") {
		t.Errorf("%s: bitbake's build configuration lists no meta-thingd layer", rel)
	}
	// The variables, from the recipe alone (-b): a full parse with data tracking (-e
	// thingd) reparses everything again, and a THINGD_DEVBUILD build is another
	// configuration, which would too. The layer has no bbappends, so -b sees what a
	// build does.
	recipe := filepath.Join(layerDir, "recipes-thingd/thingd/thingd_"+version(t)+".bb")
	for _, dev := range []string{"0", "1"} {
		check(dev, run(dev, "-e", "-b", recipe))
	}
}

// versionLess compares dotted decimal versions (2.9.1 < 2.12.1).
func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}

func TestVersionLess(t *testing.T) {
	for _, c := range []struct {
		a, b string
		less bool
	}{{"2.9.1", "2.12.1", true}, {"2.12.1", "2.9.1", false}, {"2.16.0", "2.15.2", false}, {"2.8.1", "2.8.1", false}, {"2.8", "2.8.1", true}} {
		if got := versionLess(c.a, c.b); got != c.less {
			t.Errorf("versionLess(%q, %q) = %v, want %v", c.a, c.b, got, c.less)
		}
	}
}

func tail(b []byte) []byte {
	if len(b) > 4000 {
		return b[len(b)-4000:]
	}
	return b
}
