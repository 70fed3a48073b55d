// Package nfpmcheck checks packaging/nfpm.yaml with nfpm's own parser. It lives in the
// tools module so that nfpm's module graph is not part of thingd's (docs/packaging.md).
package nfpmcheck

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/goreleaser/nfpm/v2"
)

// TestNfpmConfig loads packaging/nfpm.yaml with nfpm's own strict parser, as
// build-deb.sh runs it, and checks every file it packs exists and lands where
// the unit, the daemon and the maintainer scripts expect it.
func TestNfpmConfig(t *testing.T) {
	const arch = "armel"
	v := version(t)
	env := map[string]string{"ARCH": arch, "VERSION": v, "GOARM": "6"}
	cfg, err := nfpm.ParseFileWithEnvMapping(filepath.Join(root, "packaging/nfpm.yaml"), func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("nfpm rejects packaging/nfpm.yaml: %v", err)
	}
	info, err := cfg.Get("deb")
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "thingd" || info.Version != v || info.Arch != arch {
		t.Errorf("package %s %s %s, want thingd %s %s", info.Name, info.Version, info.Arch, v, arch)
	}

	want := map[string]struct{ src, typ string }{
		"/usr/bin/thingd":                        {"bin/" + arch + "/thingd", ""},
		"/usr/lib/systemd/system/thingd.service": {"systemd/thingd.service", ""},
		"/usr/lib/sysusers.d/thingd.conf":        {"systemd/thingd.sysusers", ""},
		"/usr/share/thingd/thingd.toml":          {"packaging/thingd.toml", ""},
		"/usr/share/doc/thingd/copyright":        {"bin/" + arch + "/copyright", ""},
	}
	seen := map[string]bool{}
	for _, c := range info.Contents {
		// The binary is built by build-deb.sh just before packaging.
		if !strings.HasPrefix(c.Source, "bin/") {
			mustExist(t, c.Source)
		}
		w, ok := want[c.Destination]
		if !ok {
			continue
		}
		seen[c.Destination] = true
		if c.Source != w.src || c.Type != w.typ {
			t.Errorf("%s comes from %s (type %q), want %s (type %q)", c.Destination, c.Source, c.Type, w.src, w.typ)
		}
	}
	for dst := range want {
		if !seen[dst] {
			t.Errorf("nfpm.yaml does not install %s", dst)
		}
	}

	for _, c := range info.Contents {
		if strings.HasPrefix(c.Destination, "/etc/") || strings.HasPrefix(c.Type, "config") {
			t.Errorf("%s (type %q) would be a dpkg conffile: thingd import rewrites /etc/thingd, so an upgrade would prompt", c.Destination, c.Type)
		}
	}
	if got := strings.Join(info.Depends, ", "); got != "adduser | systemd-sysusers" {
		t.Errorf("Depends: %s, want adduser | systemd-sysusers (what postinst calls)", got)
	}

	scripts := map[string]string{
		"postinst": info.Scripts.PostInstall,
		"prerm":    info.Scripts.PreRemove,
		"postrm":   info.Scripts.PostRemove,
	}
	for name, p := range scripts {
		if p != "packaging/deb/"+name {
			t.Errorf("%s script = %q, want packaging/deb/%s", name, p, name)
			continue
		}
		mustExist(t, p)
		fi, _ := os.Stat(filepath.Join(root, p))
		if fi.Mode()&0o111 == 0 {
			t.Errorf("%s is not executable", p)
		}
		if !strings.HasPrefix(readRepoFile(t, p), "#!/bin/sh\n") {
			t.Errorf("%s does not start with #!/bin/sh", p)
		}
	}
}

// root is the repository root; the test runs in internal/tools/nfpmcheck.
const root = "../../.."

func readRepoFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatalf("read %s: %v", rel, err)
	}
	return string(b)
}

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

func version(t *testing.T) string {
	t.Helper()
	v := strings.TrimSpace(readRepoFile(t, "packaging/VERSION"))
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(v) {
		t.Fatalf("packaging/VERSION = %q, want MAJOR.MINOR.PATCH", v)
	}
	return v
}
