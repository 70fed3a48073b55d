package e2e

import (
	"os/exec"
	"testing"
	"time"
)

// TestThingdArmhfUnderQemu is TestThingdUnderSystemd for the armhf .deb (Raspberry Pi 2
// and later): the same install, boot, service, journal and removal checks pass in a
// Debian armhf root whose programs, systemd as PID 1 and thingd included, run under
// qemu-arm-static through binfmt_misc. What qemu-user cannot show is in docs/e2e.md.
func TestThingdArmhfUnderQemu(t *testing.T) {
	requireE2E(t)
	requireQemuArm(t)
	systemdE2E(t, "armhf")
}

// qemuDropIn turns off, for the emulated run only, what systemd cannot set up when it
// runs under qemu-user; docs/e2e.md has the error each one gives.
const (
	qemuDropIn     = "etc/systemd/system/thingd.service.d/qemu-user.conf"
	qemuDropInText = `# Written by the e2e test for qemu-user only (docs/e2e.md).
[Service]
# systemd under qemu-user: "Failed to set up IPC namespacing: Input/output error"
# (226/NAMESPACE), every start; the same unit gets its IPC namespace on amd64.
PrivateIPC=no
`
)

// debootstrapForeign builds a root of another architecture: the first stage unpacks
// with this machine's tools, the second configures the packages inside the root, its
// programs run by qemu-user. unshare gives the second stage a mount namespace of its
// own, so the /proc it mounts in the root cannot outlive it, even if it dies half-way.
func debootstrapForeign(t *testing.T, dst, arch string) {
	t.Helper()
	start := time.Now()
	debootstrap(t, dst, "--arch="+arch, "--foreign")
	t.Logf("debootstrap %s, first stage: %s", arch, time.Since(start).Round(100*time.Millisecond))
	start = time.Now()
	out, err := exec.Command("unshare", "--mount", "--propagation", "private",
		"chroot", dst, "/debootstrap/debootstrap", "--second-stage").CombinedOutput()
	if err != nil {
		t.Fatalf("debootstrap --second-stage in the %s root (under qemu-user) failed: %v\n%s", arch, err, tail(string(out), 40))
	}
	t.Logf("debootstrap %s, second stage under qemu-user: %s", arch, time.Since(start).Round(100*time.Millisecond))
}
