package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"thingd/internal/testbed"
)

const binfmtDir = "/proc/sys/fs/binfmt_misc"

// Where qemu-user-static ships its registration: systemd's binfmt.d line, or (older
// packages) the binfmt-support description.
const (
	binfmtConf  = "/usr/lib/binfmt.d/qemu-arm.conf"
	binfmtsDesc = "/usr/share/binfmts/qemu-arm"
)

// requireQemuArm makes this machine run 32-bit ARM binaries through qemu-arm-static, in
// the armhf root too, or skips saying why. The entry needs the F (fix-binary) flag: the
// kernel then opens the interpreter once, at registration, so a container whose root has
// no /usr/libexec/qemu-binfmt still runs its ARM programs. The entry is left registered,
// as systemd-binfmt would leave it at boot; it changes nothing for native binaries.
func requireQemuArm(t *testing.T) {
	t.Helper()
	testbed.Require(t, "qemu-arm-static", "qemu-user-static")
	if _, err := os.Stat(filepath.Join(binfmtDir, "register")); err != nil {
		if err := syscall.Mount("binfmt_misc", binfmtDir, "binfmt_misc", 0, ""); err != nil {
			t.Skipf("binfmt_misc is not mounted and mounting it on %s failed: %v; "+
				"the armhf e2e needs it to run ARM programs under qemu-user", binfmtDir, err)
		}
		t.Logf("mounted binfmt_misc on %s", binfmtDir)
	}
	entry := filepath.Join(binfmtDir, "qemu-arm")
	if _, err := os.Stat(entry); errors.Is(err, os.ErrNotExist) {
		line, err := qemuArmRegistration()
		if err != nil {
			t.Skipf("cannot register qemu-arm with binfmt_misc: %v", err)
		}
		// A concurrent run may register it first: EEXIST is fine, the entry is checked below.
		if err := os.WriteFile(filepath.Join(binfmtDir, "register"), []byte(line), 0); err != nil && !errors.Is(err, syscall.EEXIST) {
			t.Skipf("registering qemu-arm with binfmt_misc (%q) failed: %v", line, err)
		}
		t.Logf("registered qemu-arm with binfmt_misc: %s", line)
	}
	b, err := os.ReadFile(entry)
	if err != nil {
		t.Skipf("read %s: %v", entry, err)
	}
	enabled, flags := binfmtState(string(b))
	if !enabled || !strings.Contains(flags, "F") {
		t.Skipf("%s (enabled: %v, flags %q) must be enabled and have F (fix-binary), "+
			"or ARM programs in the container's root cannot find their interpreter; "+
			"remove it (echo -1 > %s) and the test registers it from %s",
			entry, enabled, flags, entry, binfmtConf)
	}
}

// qemuArmRegistration is the line to write to binfmt_misc's register file, with F added.
func qemuArmRegistration() (string, error) {
	if b, err := os.ReadFile(binfmtConf); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
				continue
			}
			// :name:type:offset:magic:mask:interpreter:flags
			f := strings.Split(line, ":")
			if len(f) != 8 {
				return "", fmt.Errorf("%s: %q is not a binfmt_misc registration", binfmtConf, line)
			}
			if !strings.Contains(f[7], "F") {
				f[7] += "F"
			}
			return strings.Join(f, ":"), nil
		}
	}
	b, err := os.ReadFile(binfmtsDesc)
	if err != nil {
		return "", fmt.Errorf("neither %s nor %s is readable (apt-get install qemu-user-static): %w", binfmtConf, binfmtsDesc, err)
	}
	d := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), " "); ok {
			d[k] = strings.TrimSpace(v)
		}
	}
	if d["magic"] == "" || d["interpreter"] == "" {
		return "", fmt.Errorf("%s has no magic or interpreter", binfmtsDesc)
	}
	flags := "F"
	if d["preserve"] == "yes" {
		flags += "P"
	}
	if d["credentials"] == "yes" {
		flags += "C"
	}
	return fmt.Sprintf(":qemu-arm:M:%s:%s:%s:%s:%s", d["offset"], d["magic"], d["mask"], d["interpreter"], flags), nil
}

// binfmtState reads an entry of /proc/sys/fs/binfmt_misc: its first line and its flags.
func binfmtState(entry string) (enabled bool, flags string) {
	for i, line := range strings.Split(entry, "\n") {
		if i == 0 {
			enabled = strings.TrimSpace(line) == "enabled"
		}
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			flags = strings.TrimSpace(v)
		}
	}
	return enabled, flags
}
