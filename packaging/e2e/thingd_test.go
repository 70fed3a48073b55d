package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"thingd/internal/testbed"
)

const thing = "e2e-thing"

// TestThingdUnderSystemd installs the amd64 .deb into a Debian root, boots it under
// systemd without CAP_SYS_TIME and checks the service the way an administrator would,
// up to its removal and purge.
func TestThingdUnderSystemd(t *testing.T) {
	requireE2E(t)
	systemdE2E(t, hostArch)
}

// systemdE2E is the whole path for the package of one Debian architecture; one that is
// not hostArch runs under qemu-user, where the unit gets no seccomp filter (docs/e2e.md).
func systemdE2E(t *testing.T, arch string) {
	for bin, pkg := range map[string]string{"debootstrap": "debootstrap", "systemd-nspawn": "systemd-container", "nsenter": "util-linux"} {
		testbed.Require(t, bin, pkg)
	}
	emulated := arch != hostArch
	deb := debPathArch(t, arch)
	began := time.Now()

	cached := cachedRootArch(t, arch)
	root := filepath.Join(t.TempDir(), "root")
	phase := time.Now()
	copyRoot(t, cached, root)
	t.Logf("copied the cached root in %s", time.Since(phase).Round(10*time.Millisecond))
	machine := "thingd-e2e-" + randHex(4)
	phase = time.Now()
	installDeb(t, root, machine, deb)
	t.Logf("installed %s in %s", filepath.Base(deb), time.Since(phase).Round(10*time.Millisecond))

	pki := testbed.NewPKI(t, testbed.PKIOptions{})
	broker := testbed.StartMosquitto(t, testbed.MosquittoOptions{PKI: pki})
	chrony := testbed.StartChrony(t, testbed.ChronyOptions{})
	uid, gid := passwdID(t, root, "passwd", "thingd"), passwdID(t, root, "group", "thingd")
	certs := filepath.Join(root, "etc/thingd/certs")
	for src, dst := range map[string]string{pki.CAFile: "ca.pem", pki.DeviceCertFile: "device.cert.pem"} {
		mustWrite(t, filepath.Join(certs, dst), readFile(t, src), 0o644, 0, 0)
	}
	// As `thingd import` leaves it: the service's own, nobody else's (group thingd is
	// for producers using the socket, who must not read the key).
	mustWrite(t, filepath.Join(certs, "device.private.key"), readFile(t, pki.DeviceKeyFile), 0o600, uid, gid)
	cfgPath := filepath.Join(root, "etc/thingd/thingd.toml")
	// Every config this test writes also runs the syscall probe on request.
	cfg := func(telemetryTopic string) string {
		return config(broker.Port, chrony.Addr, telemetryTopic) + probeSubscription
	}
	mustWrite(t, cfgPath, []byte(cfg("dt/{thing}/system")), 0o644, 0, 0)
	mustWrite(t, filepath.Join(root, probePath), probeScript(t, arch), 0o755, 0, 0)
	if emulated {
		mustWrite(t, filepath.Join(root, qemuDropIn), []byte(qemuDropInText), 0o644, 0, 0)
	}

	telemetry := broker.Subscribe(t, "dt/"+thing+"/system")
	fromPub := broker.Subscribe(t, "dt/"+thing+"/e2e")
	afterReload := broker.Subscribe(t, "dt/"+thing+"/reloaded")

	phase = time.Now()
	c := boot(t, root, machine, filepath.Join(t.TempDir(), "console.log"))
	// Checked from outside before anything else: the container must never be able to step
	// this machine's clock.
	bnd, err := capBounding(c.leader)
	if err != nil || bnd&(1<<capSysTime) != 0 {
		t.Fatalf("the container's PID 1 may hold CAP_SYS_TIME (CapBnd %x, %v): refusing to go on", bnd, err)
	}
	c.waitBooted(90 * time.Second)
	t.Logf("booted to is-system-running in %s", time.Since(phase).Round(10*time.Millisecond))
	// Runs before the container's own cleanup powers it off (cleanups run last first).
	t.Cleanup(func() { c.dumpOnFailure(t) })

	var mainPID string
	t.Run("active after boot", func(t *testing.T) {
		p := c.waitShow(t, 30*time.Second, func(p map[string]string) bool { return p["ActiveState"] == "active" },
			"ActiveState", "SubState", "UnitFileState", "NRestarts", "MainPID")
		if p["SubState"] != "running" || p["UnitFileState"] != "enabled" || p["NRestarts"] != "0" {
			t.Errorf("thingd.service: %v; want running, enabled by the package's postinst, never restarted", p)
		}
		mainPID = p["MainPID"]
	})
	if t.Failed() {
		t.FailNow()
	}

	t.Run("notify, status text and watchdog", func(t *testing.T) {
		want := fmt.Sprintf("connected to 127.0.0.1:%d", broker.Port)
		p := c.waitShow(t, 60*time.Second, func(p map[string]string) bool { return strings.HasPrefix(p["StatusText"], want) },
			"Type", "NotifyAccess", "StatusText", "WatchdogUSec", "WatchdogTimestampMonotonic")
		if p["Type"] != "notify" || p["NotifyAccess"] != "main" {
			t.Errorf("Type=%s NotifyAccess=%s; want notify, main", p["Type"], p["NotifyAccess"])
		}
		if !strings.Contains(p["StatusText"], "queue ") {
			t.Errorf("StatusText %q does not tell the queue's state", p["StatusText"])
		}
		if p["WatchdogUSec"] != "30s" {
			t.Errorf("WatchdogUSec=%s; want 30s", p["WatchdogUSec"])
		}
		// systemd stamps this on every WATCHDOG=1 it accepts from the main PID.
		if p["WatchdogTimestampMonotonic"] == "" || p["WatchdogTimestampMonotonic"] == "0" {
			t.Errorf("WatchdogTimestampMonotonic=%q: systemd got no WATCHDOG=1 from thingd", p["WatchdogTimestampMonotonic"])
		}
		t.Logf("StatusText: %s", p["StatusText"])
	})

	t.Run("runs as thingd without CAP_SYS_TIME", func(t *testing.T) {
		p := c.show(t, "User", "MainPID")
		if p["User"] != "thingd" {
			t.Errorf("User=%s; want thingd", p["User"])
		}
		owner := strings.TrimSpace(c.must(t, "stat", "-c", "%U", "/proc/"+p["MainPID"]))
		if owner != "thingd" {
			t.Errorf("thingd's main process (pid %s inside) runs as %q; want thingd", p["MainPID"], owner)
		}
		status := c.must(t, "cat", "/proc/"+p["MainPID"]+"/status")
		for _, field := range []string{"CapEff", "CapAmb", "CapBnd"} {
			v, err := capField(status, field)
			if err != nil || v&(1<<capSysTime) != 0 {
				t.Errorf("thingd's %s = %x (%v): has CAP_SYS_TIME though the container lacks it", field, v, err)
			}
			t.Logf("thingd's %s = %016x", field, v)
		}
		pid1, err := capField(c.must(t, "cat", "/proc/1/status"), "CapBnd")
		if err != nil || pid1&(1<<capSysTime) != 0 {
			t.Errorf("the container's PID 1 CapBnd = %x (%v): has CAP_SYS_TIME", pid1, err)
		}
	})

	t.Run("file-descriptor limit is the unit's", func(t *testing.T) { checkNOFILE(t, c) })

	t.Run("syscall filter passes @clock, refuses @resources", func(t *testing.T) { checkSyscallFilter(t, c, broker, emulated) })

	t.Run("telemetry reaches the broker", func(t *testing.T) {
		msgs := telemetry.Wait(t, 1, 60*time.Second)
		var doc struct {
			TS    string `json:"ts"`
			Thing string `json:"thing"`
		}
		if err := json.Unmarshal(msgs[0].Payload, &doc); err != nil || doc.Thing != thing || doc.TS == "" {
			t.Errorf("telemetry payload %s: thing %q ts %q (%v); want thing %q and a timestamp", msgs[0].Payload, doc.Thing, doc.TS, err, thing)
		}
	})

	t.Run("thingd pub by a member of group thingd", func(t *testing.T) {
		c.must(t, "useradd", "--no-create-home", "--groups", "thingd", "--shell", "/usr/sbin/nologin", "e2e-producer")
		c.must(t, "setpriv", "--reuid=e2e-producer", "--regid=e2e-producer", "--init-groups", "--",
			"thingd", "pub", "--topic", "dt/{thing}/e2e", "--message", "hi")
		msgs := fromPub.Wait(t, 1, 30*time.Second)
		if string(msgs[0].Payload) != "hi" {
			t.Errorf("dt/%s/e2e got %q; want \"hi\"", thing, msgs[0].Payload)
		}
		// Someone outside the group must not be able to queue anything.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := c.run(ctx, "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--",
			"thingd", "pub", "--topic", "dt/{thing}/e2e", "--message", "intruder")
		if err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("thingd pub as nobody (not in group thingd): %v; want a refusal for permission denied", err)
		}
		t.Logf("as nobody: %v", err)
	})

	t.Run("journal priorities", func(t *testing.T) {
		if e, _ := c.waitJournal(t, "thingd ready", 0, 10*time.Second); e.Priority != 6 {
			t.Errorf("%q has PRIORITY=%d; want 6 (info)", e.Message, e.Priority)
		}
		mark := c.journalLen(t)
		// The configured handler exits 3: a command from the cloud that fails is a warning.
		broker.Publish(t, "cmd/"+thing+"/e2e", []byte(`{"do":"fail"}`), 1)
		e, _ := c.waitJournal(t, "handler failed", mark, 30*time.Second)
		if e.Priority != 4 {
			t.Errorf("%q has PRIORITY=%d; want 4 (warning)", e.Message, e.Priority)
		}
		if !strings.Contains(e.Message, "e2e-handler-ran") {
			t.Errorf("the handler's warning %q lacks its stderr: did the handler run under the unit's sandbox?", e.Message)
		}
		// journalctl -p filters on the same field: the warning must be there, info not.
		out := c.must(t, "journalctl", "-u", "thingd.service", "-p", "warning", "--no-pager", "-o", "cat")
		if !strings.Contains(out, "handler failed") || strings.Contains(out, "thingd ready") {
			t.Errorf("journalctl -p warning -u thingd:\n%s\nwant the handler warning and no info lines", out)
		}
	})

	t.Run("reload keeps it active", func(t *testing.T) {
		mustWrite(t, cfgPath, []byte(cfg("dt/{thing}/reloaded")), 0o644, 0, 0)
		mark := c.journalLen(t)
		c.must(t, "systemctl", "reload", "thingd.service")
		if e, _ := c.waitJournal(t, "configuration reloaded", mark, 30*time.Second); e.Priority != 6 {
			t.Errorf("%q has PRIORITY=%d; want 6", e.Message, e.Priority)
		}
		p := c.show(t, "ActiveState", "MainPID")
		if p["ActiveState"] != "active" || p["MainPID"] != mainPID {
			t.Errorf("after reload: %v; want active with the same MainPID %s", p, mainPID)
		}
		// The new config is the one in force: telemetry moved to the new topic.
		afterReload.Wait(t, 1, 60*time.Second)
	})

	t.Run("a bad reload is an error and keeps the old config", func(t *testing.T) {
		bad := cfg("dt/{thing}/reloaded") + "\n[mqtt2]\nport = 1\n"
		mustWrite(t, cfgPath, []byte(bad), 0o644, 0, 0)
		mark := c.journalLen(t)
		c.must(t, "systemctl", "reload", "thingd.service")
		e, _ := c.waitJournal(t, "reload refused", mark, 30*time.Second)
		if e.Priority != 3 {
			t.Errorf("%q has PRIORITY=%d; want 3 (error)", e.Message, e.Priority)
		}
		p := c.waitShow(t, 10*time.Second, func(p map[string]string) bool { return strings.HasPrefix(p["StatusText"], "reload failed") },
			"ActiveState", "MainPID", "StatusText")
		if p["ActiveState"] != "active" || p["MainPID"] != mainPID {
			t.Errorf("after a bad reload: %v; want active with the same MainPID %s", p, mainPID)
		}
	})

	t.Run("systemd-analyze security exposure", func(t *testing.T) {
		out := c.must(t, "systemd-analyze", "security", "--no-pager", "thingd.service")
		m := regexp.MustCompile(`Overall exposure level for thingd\.service: ([0-9.]+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no overall exposure in systemd-analyze security's output:\n%s", out)
		}
		score, err := strconv.ParseFloat(m[1], 64)
		if err != nil || score > 2.0 {
			t.Errorf("exposure %s; want at most 2.0\n%s", m[1], out)
		}
		t.Logf("systemd-analyze security: exposure %s", m[1])
	})

	t.Run("watchdog keeps pinging", func(t *testing.T) {
		first := c.show(t, "WatchdogTimestampMonotonic")["WatchdogTimestampMonotonic"]
		// thingd pings every WatchdogSec/2 = 15 s.
		c.waitShow(t, 45*time.Second, func(p map[string]string) bool {
			return p["WatchdogTimestampMonotonic"] != first
		}, "WatchdogTimestampMonotonic")
	})

	t.Run("stop is clean", func(t *testing.T) {
		mark := c.journalLen(t)
		c.must(t, "systemctl", "stop", "thingd.service")
		p := c.show(t, "ActiveState", "Result", "ExecMainStatus")
		if p["ActiveState"] != "inactive" || p["Result"] != "success" || p["ExecMainStatus"] != "0" {
			t.Errorf("after systemctl stop: %v; want inactive, success, exit status 0", p)
		}
		if e, _ := c.waitJournal(t, "stopped", mark, 10*time.Second); e.Priority != 6 {
			t.Errorf("%q has PRIORITY=%d; want 6", e.Message, e.Priority)
		}
	})

	t.Run("remove stops it, purge deletes state and config", func(t *testing.T) { checkRemovePurge(t, c, root, cfgPath, cfg("dt/{thing}/system")) })

	c.dumpOnFailure(t)
	phase = time.Now()
	if err := c.poweroff(60 * time.Second); err != nil {
		t.Errorf("power off: %v", err)
	}
	t.Logf("powered off in %s; this run took %s in all", time.Since(phase).Round(10*time.Millisecond), time.Since(began).Round(100*time.Millisecond))
}

// config is the thingd.toml the device gets: the test's broker and chronyd on loopback,
// fast telemetry, and a handler that fails loudly.
func config(brokerPort int, ntpAddr, telemetryTopic string) string {
	return fmt.Sprintf(`version = 1

[mqtt]
endpoint   = "127.0.0.1"
port       = %d
client_id  = "e2e-device"
thing_name = %q
ca_file    = "/etc/thingd/certs/ca.pem"
cert_file  = "/etc/thingd/certs/device.cert.pem"
key_file   = "/etc/thingd/certs/device.private.key"

[clock]
servers = [%q]

[[telemetry]]
topic    = %q
interval = "2s"

[[subscribe]]
topic = "cmd/{thing}/#"
exec  = ["/bin/sh", "-c", "cat >/dev/null; echo e2e-handler-ran >&2; exit 3"]
`, brokerPort, thing, ntpAddr, telemetryTopic)
}

// dumpOnFailure logs what an administrator would look at once, while the container runs.
func (c *container) dumpOnFailure(t *testing.T) {
	if !t.Failed() || c.dumped {
		return
	}
	select {
	case <-c.exited:
		return
	default:
	}
	c.dumped = true
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	status, _ := c.run(ctx, "systemctl", "status", "--no-pager", "--full", "thingd.service")
	journal, _ := c.run(ctx, "journalctl", "-u", "thingd.service", "--no-pager", "-o", "short-monotonic")
	t.Logf("systemctl status thingd:\n%s\njournalctl -u thingd:\n%s\n%s", status, journal, c.consoleTail())
}

// show reads unit properties of thingd.service.
func (c *container) show(t *testing.T, props ...string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := c.showCtx(ctx, props...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (c *container) showCtx(ctx context.Context, props ...string) (map[string]string, error) {
	out, err := c.run(ctx, "systemctl", "show", "thingd.service", "--property="+strings.Join(props, ","))
	if err != nil {
		return nil, err
	}
	p := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			p[k] = v
		}
	}
	return p, nil
}

// waitShow polls the properties until ok says yes, and fails with the last values otherwise.
func (c *container) waitShow(t *testing.T, timeout time.Duration, ok func(map[string]string) bool, props ...string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last map[string]string
	var err error
	for {
		last, err = c.showCtx(ctx, props...)
		if err == nil && ok(last) {
			return last
		}
		select {
		case <-ctx.Done():
			t.Fatalf("thingd.service did not reach the expected state within %s: %v (%v)", timeout, last, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// debPath is the package under test: $THINGD_E2E_DEB, or what `packaging/build-deb.sh amd64` wrote.
func debPath(t *testing.T) string {
	t.Helper()
	return debPathArch(t, hostArch)
}

// debPathArch is debPath for a Debian architecture: $THINGD_E2E_DEB (amd64) or
// $THINGD_E2E_DEB_<ARCH> (THINGD_E2E_DEB_ARMHF), else dist/thingd_<version>_<arch>.deb.
func debPathArch(t *testing.T, arch string) string {
	t.Helper()
	env := "THINGD_E2E_DEB"
	if arch != hostArch {
		env += "_" + strings.ToUpper(arch)
	}
	if p := os.Getenv(env); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return abs
	}
	version, err := os.ReadFile("../VERSION")
	if err != nil {
		t.Fatalf("read packaging/VERSION: %v", err)
	}
	p, err := filepath.Abs(filepath.Join("../../dist", "thingd_"+strings.TrimSpace(string(version))+"_"+arch+".deb"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is missing: build it first with `packaging/build-deb.sh %s` (make e2e does), or set %s", p, arch, env)
	}
	return p
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
