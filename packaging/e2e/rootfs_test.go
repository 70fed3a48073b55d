package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The Debian root every run boots. Changing any of these builds a new cache entry
// (the key hashes them), so an old root is never booted with a new recipe.
const (
	suite   = "bookworm"
	variant = "minbase"
	// systemd-sysv gives /sbin/init, dbus lets systemctl talk to PID 1 like on a real
	// system; minbase already has passwd (useradd), util-linux (setpriv) and coreutils.
	include       = "systemd,systemd-sysv,dbus"
	recipeVersion = "1" // bump when rootCustomise changes
	defaultMirror = "http://deb.debian.org/debian"
)

// cacheDir is where debootstrapped roots live between runs ($THINGD_E2E_CACHE overrides).
func cacheDir() string {
	if d := os.Getenv("THINGD_E2E_CACHE"); d != "" {
		return d
	}
	return "/var/cache/thingd-e2e"
}

// hostArch is the Debian architecture this machine runs natively (requireE2E insists on
// amd64); any other root is debootstrapped in two stages, the second under qemu-user.
const hostArch = "amd64"

// rootKey names the cached root of arch. The host's key is what it was before there were
// other architectures (so existing caches stay valid); any other names its architecture,
// in the name and in the hash.
func rootKey(arch string) string {
	parts, name := []string{suite, variant, include, recipeVersion}, "rootfs-"+suite+"-"
	if arch != hostArch {
		parts, name = append(parts, arch), name+arch+"-"
	}
	sum := sha256.Sum256([]byte(strings.Join(parts, "|")))
	return name + hex.EncodeToString(sum[:])[:12]
}

// cachedRoot returns a debootstrapped root, building it once under a lock so parallel
// runs wait for one build instead of racing two.
func cachedRoot(t *testing.T) string {
	t.Helper()
	return cachedRootArch(t, hostArch)
}

// cachedRootArch is cachedRoot for a Debian architecture; a foreign one needs
// requireQemuArm first. Each architecture has its own lock, so a slow emulated build
// does not hold up a native run.
func cachedRootArch(t *testing.T, arch string) string {
	t.Helper()
	dir := cacheDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("create the e2e cache %s: %v (set THINGD_E2E_CACHE to a writable directory)", dir, err)
	}
	final := filepath.Join(dir, rootKey(arch))
	stamp := final + ".done"
	if _, err := os.Stat(stamp); err == nil {
		return final
	}

	lockName := "lock"
	if arch != hostArch {
		lockName += "-" + arch
	}
	lock, err := os.OpenFile(filepath.Join(dir, lockName), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("open the e2e cache lock: %v", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("lock %s: %v", lock.Name(), err)
	}
	defer func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) }()
	if _, err := os.Stat(stamp); err == nil {
		return final // another run built it while this one waited
	}

	// Leftovers of a build that died half-way are never trusted.
	stale, _ := filepath.Glob(final + "*")
	for _, p := range stale {
		if err := os.RemoveAll(p); err != nil {
			t.Fatalf("remove the unfinished root %s: %v", p, err)
		}
	}
	tmp := final + ".partial"
	start := time.Now()
	if arch == hostArch {
		debootstrap(t, tmp)
	} else {
		debootstrapForeign(t, tmp, arch)
	}
	rootCustomise(t, tmp)
	if err := os.Rename(tmp, final); err != nil {
		t.Fatalf("move the new root into the cache: %v", err)
	}
	if err := os.WriteFile(stamp, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		t.Fatalf("mark the cached root complete: %v", err)
	}
	t.Logf("debootstrapped %s %s %s (+%s) into %s in %s (once per machine; later runs copy it)",
		suite, arch, variant, include, final, time.Since(start).Round(100*time.Millisecond))
	return final
}

// debootstrap reaches the mirror the way apt on this machine does: the same proxy, if apt
// has one configured and the environment sets none.
func debootstrap(t *testing.T, dst string, extra ...string) {
	t.Helper()
	mirror := os.Getenv("THINGD_E2E_MIRROR")
	if mirror == "" {
		mirror = defaultMirror
	}
	args := append([]string{"--variant=" + variant, "--include=" + include}, extra...)
	cmd := exec.Command("debootstrap", append(args, suite, dst, mirror)...)
	cmd.Env = os.Environ()
	if os.Getenv("http_proxy") == "" {
		if p := aptProxy(); p != "" {
			cmd.Env = append(cmd.Env, "http_proxy="+p)
			t.Logf("debootstrap uses apt's proxy %s", p)
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("debootstrap %s from %s failed: %v\n%s\n(set THINGD_E2E_MIRROR to a reachable Debian mirror)",
			suite, mirror, err, tail(string(out), 40))
	}
}

// aptProxy is Acquire::http::Proxy from apt's configuration, or "".
func aptProxy() string {
	out, err := exec.Command("apt-config", "shell", "P", "Acquire::http::Proxy").Output()
	if err != nil {
		return ""
	}
	// apt-config shell prints P='value'.
	v := strings.TrimSpace(string(out))
	v = strings.TrimPrefix(v, "P=")
	return strings.Trim(v, "'")
}

// rootCustomise makes the root quiet and self-contained: it shares this machine's network
// namespace, so nothing in it may reach out on its own.
func rootCustomise(t *testing.T, root string) {
	t.Helper()
	// apt-daily timers are Persistent=true and would fire at boot and fetch package lists.
	for _, unit := range []string{"apt-daily.timer", "apt-daily-upgrade.timer"} {
		link := filepath.Join(root, "etc/systemd/system", unit)
		_ = os.Remove(link)
		if err := os.Symlink("/dev/null", link); err != nil {
			t.Fatalf("mask %s in the e2e root: %v", unit, err)
		}
		_ = os.Remove(filepath.Join(root, "etc/systemd/system/timers.target.wants", unit))
	}
	files := map[string]string{
		"etc/hostname": "thingd-e2e\n",
		"etc/hosts":    "127.0.0.1 localhost thingd-e2e\n::1 localhost\n",
		// No resolver: every address the test configures is a literal loopback address.
		"etc/resolv.conf": "",
	}
	for name, body := range files {
		p := filepath.Join(root, name)
		_ = os.Remove(p)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatalf("write %s in the e2e root: %v", name, err)
		}
	}
}

// copyRoot gives one run its own writable root; cp keeps device nodes, owners and
// hard links, and reflinks where the file system can.
func copyRoot(t *testing.T, src, dst string) {
	t.Helper()
	out, err := exec.Command("cp", "-a", "--reflink=auto", src, dst).CombinedOutput()
	if err != nil {
		t.Fatalf("copy the cached root %s to %s: %v\n%s", src, dst, err, out)
	}
}

func tail(s string, lines int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

func mustWrite(t *testing.T, path string, body []byte, mode os.FileMode, uid, gid int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, body, mode); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	// WriteFile keeps the mode of an existing file and the umask trims a new one.
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
}

// passwdID reads a user's UID or a group's GID (file "passwd" or "group") from the root's
// /etc, not ours: the package's postinst made them in there.
func passwdID(t *testing.T, root, file, name string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "etc", file))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 3 && f[0] == name {
			var id int
			if _, err := fmt.Sscan(f[2], &id); err == nil {
				return id
			}
		}
	}
	t.Fatalf("%s not in %s/etc/%s: did the package's postinst create it?", name, root, file)
	return -1
}
