package packaging

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// releaseGo is the Go language version of the go recipe (go_<version>.bb) each Yocto
// release's oe-core builds with. TestBitbakeParse checks it against the trees it is
// given; TestGoFloor holds the daemon to the lowest of them.
var releaseGo = map[string]string{
	"scarthgap":  "1.22",
	"styhead":    "1.22",
	"walnascar":  "1.24",
	"whinlatter": "1.25",
	"wrynose":    "1.26",
}

var (
	goDirective = regexp.MustCompile(`(?m)^go (1\.\d+)(\.\d+)?\s*$`)
	goMinTC     = regexp.MustCompile(`(?m)^GO_MIN_TOOLCHAIN \?= go(1\.\d+)\.\d+\s*$`)
)

// TestGoFloor checks the chain that keeps thingd buildable by every release in the
// layer's LAYERSERIES_COMPAT with that release's own go: go.mod's go directive is no
// newer than the oldest release's Go, the toolchain `make go122` compiles and vets with
// is go.mod's language version (so it is the floor itself, not a newer Go), and
// `make test` (CI) runs that target.
func TestGoFloor(t *testing.T) {
	releases := strings.Fields(bbVars(t, readRepoFile(t, layer+"/conf/layer.conf"))["LAYERSERIES_COMPAT_thingd"])
	floor := ""
	for _, rel := range releases {
		v, ok := releaseGo[rel]
		if !ok {
			t.Fatalf("LAYERSERIES_COMPAT has %s, whose Go version releaseGo does not know", rel)
		}
		if floor == "" || versionLess(v, floor) {
			floor = v
		}
	}
	m := goDirective.FindStringSubmatch(readRepoFile(t, "go.mod"))
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	mod := m[1]
	if versionLess(floor, mod) {
		t.Errorf("go.mod says go %s, newer than Go %s of the oldest release in LAYERSERIES_COMPAT %q", mod, floor, releases)
	}
	makefile := readRepoFile(t, "Makefile")
	tc := goMinTC.FindStringSubmatch(makefile)
	if tc == nil {
		t.Fatal("Makefile has no GO_MIN_TOOLCHAIN ?= go1.N.P")
	}
	if tc[1] != mod {
		t.Errorf("Makefile's GO_MIN_TOOLCHAIN is Go %s, go.mod's language version is %s", tc[1], mod)
	}
	testTarget := regexp.MustCompile(`(?m)^test:(.*)$`).FindStringSubmatch(makefile)
	if testTarget == nil || !slices.Contains(strings.Fields(testTarget[1]), "go122") {
		t.Errorf("make test does not run go122 (test:%v)", testTarget)
	}
}
