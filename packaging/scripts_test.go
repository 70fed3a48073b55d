package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fakeTools makes a PATH of stand-ins that log their argv and exit with the
// given status; rm and rmdir are the real ones so purges really delete. Tools not listed
// do not exist on that PATH.
func fakeTools(t *testing.T, exits map[string]int) (pathDir, logFile string) {
	t.Helper()
	dir := t.TempDir()
	logFile = filepath.Join(dir, "calls.log")
	for name, code := range exits {
		script := "#!/bin/sh\necho \"" + name + " $*\" >> " + logFile + "\nexit " + strconv.Itoa(code) + "\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"rm", "rmdir"} {
		real, err := exec.LookPath(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(real, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir, logFile
}

// runScript runs a maintainer script with /bin/sh against a DPKG_ROOT, so it
// touches nothing on this machine, and returns the tool calls it made.
func runScript(t *testing.T, script string, exits map[string]int, dpkgRoot string, args ...string) []string {
	t.Helper()
	pathDir, logFile := fakeTools(t, exits)
	cmd := exec.Command("/bin/sh", append([]string{filepath.Join(root, "packaging/deb", script)}, args...)...)
	cmd.Env = []string{"PATH=" + pathDir, "DPKG_ROOT=" + dpkgRoot}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", script, strings.Join(args, " "), err, out)
	}
	b, err := os.ReadFile(logFile)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// debTools are the tools of a Debian system with systemd; getent's 2 means
// "no such user".
func debTools(t *testing.T) map[string]int {
	t.Helper()
	return map[string]int{"getent": 2, "systemd-sysusers": 0, "adduser": 0, "install": 0,
		"deb-systemd-helper": 0, "deb-systemd-invoke": 0, "systemctl": 0}
}

// TestPostinstConfigure checks a first install creates the user (through
// sysusers, or adduser without it) and enables the unit.
func TestPostinstConfigure(t *testing.T) {
	tests := []struct {
		name     string
		tools    func(map[string]int)
		want     []string
		wantNone []string
	}{
		{"with systemd-sysusers", func(map[string]int) {},
			[]string{"systemd-sysusers --root=ROOT thingd.conf", "deb-systemd-helper unmask thingd.service", "deb-systemd-helper enable thingd.service"},
			[]string{"adduser"}},
		{"without systemd-sysusers", func(m map[string]int) { delete(m, "systemd-sysusers") },
			[]string{"adduser --system --group --home /var/lib/thingd", "deb-systemd-helper enable thingd.service"},
			nil},
		{"user exists", func(m map[string]int) { m["getent"] = 0 },
			[]string{"deb-systemd-helper enable thingd.service"},
			[]string{"systemd-sysusers", "adduser"}},
		{"admin disabled the unit", func(m map[string]int) { m["deb-systemd-helper"] = 1 },
			[]string{"deb-systemd-helper update-state thingd.service"},
			[]string{"deb-systemd-helper enable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dpkgRoot := t.TempDir()
			tools := debTools(t)
			tt.tools(tools)
			calls := strings.Join(runScript(t, "postinst", tools, dpkgRoot, "configure", ""), "\n")
			calls = strings.ReplaceAll(calls, dpkgRoot, "ROOT")
			for _, w := range tt.want {
				if !strings.Contains(calls, w) {
					t.Errorf("no %q among the calls:\n%s", w, calls)
				}
			}
			for _, w := range tt.wantNone {
				if strings.Contains(calls, w) {
					t.Errorf("unexpected %q among the calls:\n%s", w, calls)
				}
			}
		})
	}
}

// TestPostinstConfigFile: the config is created from the example only when absent, so an
// upgrade never touches the admin's (or `thingd import`'s) file and dpkg never prompts.
func TestPostinstConfigFile(t *testing.T) {
	const copyCall = "install -m 0644 ROOT/usr/share/thingd/thingd.toml ROOT/etc/thingd/thingd.toml"
	for _, exists := range []bool{false, true} {
		dpkgRoot := t.TempDir()
		if exists {
			if err := os.MkdirAll(filepath.Join(dpkgRoot, "etc/thingd"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dpkgRoot, "etc/thingd/thingd.toml"), []byte("# imported\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		calls := strings.ReplaceAll(strings.Join(runScript(t, "postinst", debTools(t), dpkgRoot, "configure", "0.1.0"), "\n"), dpkgRoot, "ROOT")
		if got := strings.Contains(calls, copyCall); got == exists {
			t.Errorf("config present before = %v: copied the example = %v\n%s", exists, got, calls)
		}
	}
}

// TestPostrm checks remove keeps the queue and masks the unit, and purge
// deletes the queue and clock state and forgets the unit.
func TestPostrm(t *testing.T) {
	tests := []struct {
		action    string
		wantCall  string
		wantState bool
	}{
		{"remove", "deb-systemd-helper mask thingd.service", true},
		{"purge", "deb-systemd-helper purge thingd.service", false},
	}
	for _, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			dpkgRoot := t.TempDir()
			queued := filepath.Join(dpkgRoot, "var/lib/thingd/queue/segment-1")
			if err := os.MkdirAll(filepath.Dir(queued), 0o750); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(queued, []byte("x"), 0o640); err != nil {
				t.Fatal(err)
			}
			etc := filepath.Join(dpkgRoot, "etc/thingd")
			if err := os.MkdirAll(filepath.Join(etc, "certs"), 0o750); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(etc, "thingd.toml"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			calls := strings.Join(runScript(t, "postrm", debTools(t), dpkgRoot, tt.action), "\n")
			if !strings.Contains(calls, tt.wantCall) {
				t.Errorf("no %q among the calls:\n%s", tt.wantCall, calls)
			}
			if _, err := os.Stat(queued); (err == nil) != tt.wantState {
				t.Errorf("after postrm %s: queue file present = %v, want %v", tt.action, err == nil, tt.wantState)
			}
			// Purge leaves nothing of thingd's in /etc (the certs directory was empty).
			if _, err := os.Stat(etc); (err == nil) != tt.wantState {
				t.Errorf("after postrm %s: /etc/thingd present = %v, want %v", tt.action, err == nil, tt.wantState)
			}
		})
	}
}

// TestPurgeKeepsImportedCertificates: the device's key and certificate are its identity;
// purge removes the config but keeps a certs directory that holds files.
func TestPurgeKeepsImportedCertificates(t *testing.T) {
	dpkgRoot := t.TempDir()
	key := filepath.Join(dpkgRoot, "etc/thingd/certs/device.private.key")
	if err := os.MkdirAll(filepath.Dir(key), 0o750); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{key, filepath.Join(dpkgRoot, "etc/thingd/thingd.toml")} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	runScript(t, "postrm", debTools(t), dpkgRoot, "purge")
	if _, err := os.Stat(key); err != nil {
		t.Errorf("purge removed the imported key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dpkgRoot, "etc/thingd/thingd.toml")); err == nil {
		t.Error("purge kept /etc/thingd/thingd.toml")
	}
}

// TestPurgeRemovesOnlyThingdsFiles: purge also deletes the temporary files an interrupted
// `thingd import` leaves (atomicfile's .NAME.tmp-*), so an otherwise empty /etc/thingd
// and /etc/thingd/certs go, while a file of the admin's in /etc/thingd stays.
func TestPurgeRemovesOnlyThingdsFiles(t *testing.T) {
	for _, adminFile := range []bool{false, true} {
		dpkgRoot := t.TempDir()
		etc := filepath.Join(dpkgRoot, "etc/thingd")
		if err := os.MkdirAll(filepath.Join(etc, "certs"), 0o750); err != nil {
			t.Fatal(err)
		}
		files := []string{"thingd.toml", ".thingd.toml.tmp-123", "certs/.dev.private.key.tmp-456"}
		if adminFile {
			files = append(files, "notes.txt")
		}
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(etc, f), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		runScript(t, "postrm", debTools(t), dpkgRoot, "purge")
		if !adminFile {
			if _, err := os.Stat(etc); err == nil {
				left, _ := filepath.Glob(filepath.Join(etc, "*", ".*"))
				t.Errorf("purge left /etc/thingd (contents %q)", left)
			}
			continue
		}
		if _, err := os.Stat(filepath.Join(etc, "notes.txt")); err != nil {
			t.Errorf("purge removed the admin's /etc/thingd/notes.txt: %v", err)
		}
		if _, err := os.Stat(filepath.Join(etc, "certs")); err == nil {
			t.Error("purge kept the certs directory holding only a temporary file")
		}
	}
}
