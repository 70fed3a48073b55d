package packaging

import (
	"crypto/md5"
	"encoding/hex"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"thingd/daemon/config"
)

const layer = "packaging/yocto/meta-thingd"

// lowestGo is the Go of the oldest release in LAYERSERIES_COMPAT (scarthgap: 1.22.12).
const lowestGo = "1.22"

// recipe returns the one thingd recipe, its version from the file name, and
// its text.
func recipe(t *testing.T) (path, pv, text string) {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(root, layer, "recipes-thingd/thingd/thingd_*.bb"))
	if err != nil || len(matches) != 1 {
		t.Fatalf("want exactly one recipes-thingd/thingd/thingd_<version>.bb, found %q (%v)", matches, err)
	}
	rel, _ := filepath.Rel(root, matches[0])
	pv = strings.TrimSuffix(strings.TrimPrefix(filepath.Base(rel), "thingd_"), ".bb")
	return rel, pv, readRepoFile(t, rel)
}

// TestRecipeVersion checks the recipe's version (its file name) is
// packaging/VERSION, the version the Makefile stamps into the binary.
func TestRecipeVersion(t *testing.T) {
	path, pv, _ := recipe(t)
	if want := version(t); pv != want {
		t.Fatalf("%s carries version %s, packaging/VERSION says %s: rename the recipe", path, pv, want)
	}
}

// TestRecipeMatchesRepository checks the recipe builds this module's command,
// installs the files the repository has, and keeps the config a conffile.
func TestRecipeMatchesRepository(t *testing.T) {
	path, _, text := recipe(t)
	vars := bbVars(t, text)
	module, goVersion := goMod(t)

	if module != "thingd" {
		t.Errorf("go.mod module = %q, the recipe and -X main.version assume thingd", module)
	}
	checks := []struct{ name, got, want string }{
		{"GO_IMPORT", vars["GO_IMPORT"], module},
		{"GO_INSTALL", vars["GO_INSTALL"], "${GO_IMPORT}/cmd/thingd"},
		{"SYSTEMD_SERVICE:${PN}", vars["SYSTEMD_SERVICE:${PN}"], "thingd.service"},
		{"CONFFILES:${PN}", vars["CONFFILES:${PN}"], strings.Replace(config.DefaultPath, "/etc", "${sysconfdir}", 1)},
		{"REQUIRED_DISTRO_FEATURES", vars["REQUIRED_DISTRO_FEATURES"], "systemd"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %s = %q, want %q", path, c.name, c.got, c.want)
		}
	}
	mustExist(t, "cmd/thingd/main.go")

	// Every release in LAYERSERIES_COMPAT builds thingd with its own go; the oldest,
	// scarthgap, has Go 1.22. A go line above that makes the go command refuse
	// scarthgap's toolchain (or try to download one, which BitBake forbids).
	if goVersion != lowestGo {
		t.Errorf("go.mod says go %s; the recipe must build with scarthgap's Go %s", goVersion, lowestGo)
	}
	if strings.Contains(text, "GOVERSION") || vars["THINGD_GO_MIN"] != "" {
		t.Errorf("%s checks GOVERSION, which oe-core no longer defines; the go line is the check", path)
	}

	inherit := regexp.MustCompile(`(?m)^inherit\s+(.+)$`).FindStringSubmatch(text)
	if inherit == nil {
		t.Fatalf("%s has no inherit line", path)
	}
	var classes []string
	for _, m := range regexp.MustCompile(`(?m)^inherit\s+(.+)$`).FindAllStringSubmatch(text, -1) {
		classes = append(classes, strings.Fields(m[1])...)
	}
	// features_check is what makes REQUIRED_DISTRO_FEATURES skip the recipe on a distro without systemd.
	for _, class := range []string{"go-mod", "systemd", "useradd", "features_check"} {
		if !slices.Contains(classes, class) {
			t.Errorf("%s does not inherit %s", path, class)
		}
	}

	// Files the recipe installs from the source tree, with where they land.
	for src, dst := range map[string]string{
		"systemd/thingd.service": "${D}${systemd_system_unitdir}/thingd.service",
		"packaging/thingd.toml":  "${D}${sysconfdir}/thingd/thingd.toml",
	} {
		mustExist(t, src)
		if !strings.Contains(text, "${THINGD_TREE}/"+src) || !strings.Contains(text, dst) {
			t.Errorf("%s does not install %s as %s", path, src, dst)
		}
	}

	lic := regexp.MustCompile(`file://src/\$\{GO_IMPORT\}/LICENSE;md5=([0-9a-f]{32})`).FindStringSubmatch(vars["LIC_FILES_CHKSUM"])
	sum := md5.Sum([]byte(readRepoFile(t, "LICENSE")))
	if lic == nil || lic[1] != hex.EncodeToString(sum[:]) {
		t.Errorf("%s: LIC_FILES_CHKSUM = %q, want LICENSE's md5 %x", path, vars["LIC_FILES_CHKSUM"], sum)
	}
	if !strings.Contains(vars["USERADD_PARAM:${PN}"], " thingd") || !strings.Contains(vars["GROUPADD_PARAM:${PN}"], "thingd") {
		t.Errorf("%s does not create the thingd user and group", path)
	}
}

// TestLayerConf checks the layer declares itself compatible with the LTS.
func TestLayerConf(t *testing.T) {
	vars := bbVars(t, readRepoFile(t, layer+"/conf/layer.conf"))
	if !slices.Contains(strings.Fields(vars["LAYERSERIES_COMPAT_thingd"]), "scarthgap") {
		t.Errorf("LAYERSERIES_COMPAT_thingd = %q, want it to include scarthgap", vars["LAYERSERIES_COMPAT_thingd"])
	}
	if vars["BBFILE_COLLECTIONS"] != "thingd" {
		t.Errorf("BBFILE_COLLECTIONS = %q, want thingd", vars["BBFILE_COLLECTIONS"])
	}
	mustExist(t, layer+"/README.md")
}

// TestRecipeSRCREV checks a release builds a fixed commit (the one tag v<version> names)
// and the newest commit only when a developer opts in.
func TestRecipeSRCREV(t *testing.T) {
	path, _, text := recipe(t)
	vars := bbVars(t, text)
	rev := vars["THINGD_RELEASE_SRCREV"]
	if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(rev) {
		t.Errorf("%s: THINGD_RELEASE_SRCREV = %q, want the 40-hex commit of the release tag", path, rev)
	}
	if vars["THINGD_DEVBUILD"] != "0" {
		t.Errorf("%s: THINGD_DEVBUILD = %q, want \"0\": AUTOREV is opt-in", path, vars["THINGD_DEVBUILD"])
	}
	// getVar('AUTOREV'), not '${AUTOREV}': bitbake expands a nested ${AUTOREV} even when
	// unused and then refuses the recipe ("AUTOREV/SRCPV set too late").
	const srcrev = `${@d.getVar('AUTOREV') if d.getVar('THINGD_DEVBUILD') == '1' else d.getVar('THINGD_RELEASE_SRCREV')}`
	if vars["SRCREV"] != srcrev {
		t.Errorf("%s: SRCREV = %q, want %q", path, vars["SRCREV"], srcrev)
	}
	if strings.Contains(text, "${AUTOREV}") {
		t.Errorf("%s uses AUTOREV outside the THINGD_DEVBUILD opt-in", path)
	}
}
