package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"thingd/internal/testbed"
)

// TestUpgradeKeepsImportedConfig (issue #14 items 5 and 6): on a booted Debian, with the
// package under test installed and set up by `thingd import`, an unattended upgrade to a
// newer package whose shipped example differs exits 0 without a conffile prompt, keeps
// /etc/thingd/thingd.toml byte for byte as import wrote it and the certificates, ships
// the new example under /usr/share, leaves no conffile in /etc/thingd, and restarts the
// service on the new binary. A purge then removes everything the package and the
// service created except the device identity import wrote, and nothing of the admin's.
//
// Were thingd.toml a conffile, the upgrade would stop at dpkg's prompt: with standard
// input at end of file (as under cron or unattended-upgrades without --force-conf*),
// dpkg fails the package and apt-get exits 100, which the first subtest reports.
func TestUpgradeKeepsImportedConfig(t *testing.T) {
	requireE2E(t)
	for bin, pkg := range map[string]string{"debootstrap": "debootstrap", "systemd-nspawn": "systemd-container",
		"nsenter": "util-linux", "dpkg-deb": "dpkg"} {
		testbed.Require(t, bin, pkg)
	}
	oldDeb := debPath(t)
	began := time.Now()
	oldVersion := debField(t, oldDeb, "Version")
	newVersion := oldVersion + "+e2e1" // sorts after oldVersion for dpkg
	newExample := append([]byte("# A later release's example: packaging/e2e's upgrade test ships it.\n"), readFile(t, "../thingd.toml")...)
	phase := time.Now()
	newDeb := buildDeb(t, newVersion, newExample)
	t.Logf("built %s in %s", filepath.Base(newDeb), time.Since(phase).Round(10*time.Millisecond))

	root := filepath.Join(t.TempDir(), "root")
	phase = time.Now()
	copyRoot(t, cachedRoot(t), root)
	t.Logf("copied the cached root in %s", time.Since(phase).Round(10*time.Millisecond))
	// /srv, not /tmp: nspawn mounts a tmpfs over the container's /tmp.
	for src, dst := range map[string]string{oldDeb: "srv/old.deb", newDeb: "srv/new.deb"} {
		mustWrite(t, filepath.Join(root, dst), readFile(t, src), 0o644, 0, 0)
	}
	// What the admin downloaded and put there: purge must leave both alone.
	kitZip := filepath.Join(root, "root/connect_device_package.zip")
	mustWrite(t, kitZip, connectKit(t), 0o600, 0, 0)
	handler := filepath.Join(root, "usr/local/bin/on-command")
	mustWrite(t, handler, []byte("#!/bin/sh\n# the admin's command handler\ncat >/dev/null\n"), 0o755, 0, 0)
	adminFiles := map[string][]byte{kitZip: readFile(t, kitZip), handler: readFile(t, handler)}

	// The imported config names AWS hosts: its own network namespace keeps every
	// lookup, connection and NTP query inside the container (only its loopback).
	phase = time.Now()
	c := boot(t, root, "thingd-e2e-upg-"+randHex(4), filepath.Join(t.TempDir(), "console.log"), "--private-network")
	if bnd, err := capBounding(c.leader); err != nil || bnd&(1<<capSysTime) != 0 {
		t.Fatalf("the container's PID 1 may hold CAP_SYS_TIME (CapBnd %x, %v): refusing to go on", bnd, err)
	}
	c.waitBooted(90 * time.Second)
	t.Logf("booted to is-system-running in %s", time.Since(phase).Round(10*time.Millisecond))
	t.Cleanup(func() { c.dumpOnFailure(t) })

	// A conffile option in apt's configuration would answer the prompt and hide it.
	if opts := c.must(t, "apt-config", "dump", "DPkg::Options"); strings.Contains(opts, "force-conf") {
		t.Fatalf("apt in the e2e root passes conffile options to dpkg, so a prompt would not show:\n%s", opts)
	}

	phase = time.Now()
	if out, err := c.unattended(t, "dpkg", "-i", "/srv/old.deb"); err != nil {
		t.Fatalf("install %s: %v\n%s", filepath.Base(oldDeb), err, out)
	}
	t.Logf("installed %s on the running system in %s", filepath.Base(oldDeb), time.Since(phase).Round(10*time.Millisecond))
	cfgPath := filepath.Join(root, "etc/thingd/thingd.toml")
	oldExample := readFile(t, filepath.Join(root, "usr/share/thingd/thingd.toml"))
	if !bytes.Equal(readFile(t, cfgPath), oldExample) {
		t.Fatalf("after the first install /etc/thingd/thingd.toml is not the package's example:\n%s", readFile(t, cfgPath))
	}
	if bytes.Equal(oldExample, newExample) {
		t.Fatal("the two packages ship the same example: the upgrade would prove nothing")
	}

	// Set up as the admin does: import the kit, then (re)start the service.
	t.Log(c.must(t, "thingd", "import", "/root/connect_device_package.zip"))
	imported := readFile(t, cfgPath)
	if !bytes.Contains(imported, []byte("written by `thingd import`")) {
		t.Fatalf("thingd import did not write /etc/thingd/thingd.toml:\n%s", imported)
	}
	certs := map[string][]byte{}
	for _, name := range []string{"MyThing.cert.pem", "MyThing.private.key"} {
		p := filepath.Join(root, "etc/thingd/certs", name)
		certs[p] = readFile(t, p)
	}
	c.must(t, "systemctl", "restart", "thingd.service")
	before := c.waitShow(t, 30*time.Second, func(p map[string]string) bool {
		return p["ActiveState"] == "active" && p["SubState"] == "running"
	}, "ActiveState", "SubState", "MainPID")

	t.Run("unattended upgrade is silent", func(t *testing.T) {
		phase := time.Now()
		out, err := c.unattended(t, "apt-get", "install", "-y", "/srv/new.deb")
		t.Logf("apt-get install -y new.deb </dev/null (%s):\n%s", time.Since(phase).Round(10*time.Millisecond), tail(withoutProgress(out), 30))
		for _, prompt := range []string{"Configuration file", "conffile", "Y/I/N/O/D/Z", "==> Modified"} {
			if strings.Contains(out, prompt) {
				t.Errorf("the upgrade's output has %q: dpkg asked about a conffile", prompt)
			}
		}
		if err != nil {
			t.Fatalf("the upgrade to %s failed (an unattended upgrade stops here, half-configured): %v", newVersion, err)
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	t.Run("the admin's config and certificates are kept", func(t *testing.T) {
		if got := readFile(t, cfgPath); !bytes.Equal(got, imported) {
			t.Errorf("/etc/thingd/thingd.toml changed in the upgrade; now:\n%s", got)
		}
		for p, want := range certs {
			if !bytes.Equal(readFile(t, p), want) {
				t.Errorf("%s changed in the upgrade", strings.TrimPrefix(p, root))
			}
		}
	})

	t.Run("the new example is shipped and nothing in /etc is a conffile", func(t *testing.T) {
		if got := readFile(t, filepath.Join(root, "usr/share/thingd/thingd.toml")); !bytes.Equal(got, newExample) {
			t.Errorf("/usr/share/thingd/thingd.toml is not the new package's example:\n%s", got)
		}
		out := c.must(t, "dpkg-query", "-W", "-f=${Version}\n${Conffiles}\n", "thingd")
		version, conffiles, _ := strings.Cut(out, "\n")
		if version != newVersion {
			t.Errorf("installed version %q, want %q", version, newVersion)
		}
		if strings.TrimSpace(conffiles) != "" {
			t.Errorf("thingd has conffiles (a changed one prompts on upgrade):\n%s", conffiles)
		}
	})

	t.Run("the service is restarted on the new binary", func(t *testing.T) {
		p := c.waitShow(t, 30*time.Second, func(p map[string]string) bool {
			return p["ActiveState"] == "active" && p["SubState"] == "running" && p["MainPID"] != before["MainPID"]
		}, "ActiveState", "SubState", "MainPID", "UnitFileState")
		if p["UnitFileState"] != "enabled" {
			t.Errorf("UnitFileState=%s after the upgrade; want enabled", p["UnitFileState"])
		}
		// dpkg unlinks the old binary: a process still running it shows "(deleted)".
		if exe := strings.TrimSpace(c.must(t, "readlink", "/proc/"+p["MainPID"]+"/exe")); exe != "/usr/bin/thingd" {
			t.Errorf("thingd's main process runs %q; want the upgraded /usr/bin/thingd", exe)
		}
		if v := c.must(t, "thingd", "version"); !strings.HasPrefix(v, "thingd "+newVersion+" ") {
			t.Errorf("thingd version: %q; want %s", v, newVersion)
		}
	})

	t.Run("purge leaves only the imported identity and the admin's files", func(t *testing.T) {
		phase := time.Now()
		out, err := c.unattended(t, "apt-get", "purge", "-y", "thingd")
		t.Logf("apt-get purge -y thingd (%s):\n%s", time.Since(phase).Round(10*time.Millisecond), tail(withoutProgress(out), 20))
		if err != nil {
			t.Fatalf("purge: %v", err)
		}
		if p := c.show(t, "LoadState", "ActiveState"); p["LoadState"] != "not-found" || p["ActiveState"] != "inactive" {
			t.Errorf("thingd.service after purge: %v; want not-found, inactive", p)
		}
		// By design (docs/packaging.md) the certificate and key import wrote stay: a
		// device's identity cannot be downloaded again. Everything else must go.
		var left []string
		for _, dir := range []string{"/", "/run", "/tmp"} {
			out := c.must(t, "find", dir, "-xdev", "(", "-name", "*thingd*", "-o", "-lname", "*thingd*", ")", "-print")
			left = append(left, strings.Fields(out)...)
		}
		sort.Strings(left)
		if strings.Join(left, " ") != "/etc/thingd" {
			t.Errorf("after purge these are left: %q; want only /etc/thingd, holding the imported identity", left)
		}
		got := strings.Fields(c.must(t, "find", "/etc/thingd", "-mindepth", "1"))
		sort.Strings(got)
		if want := "/etc/thingd/certs /etc/thingd/certs/MyThing.cert.pem /etc/thingd/certs/MyThing.private.key"; strings.Join(got, " ") != want {
			t.Errorf("/etc/thingd after purge holds %q; want only certs/ with the imported certificate and key", got)
		}
		for p, want := range certs {
			if !bytes.Equal(readFile(t, p), want) {
				t.Errorf("purge changed the imported %s", strings.TrimPrefix(p, root))
			}
		}
		for p, want := range adminFiles {
			if !bytes.Equal(readFile(t, p), want) {
				t.Errorf("purge changed the admin's %s", strings.TrimPrefix(p, root))
			}
		}
		// Debian practice: a recycled UID must not inherit files the user owned.
		if _, err := c.run(context.Background(), "getent", "passwd", "thingd"); err != nil {
			t.Errorf("the thingd user is gone after purge: %v", err)
		}
	})

	c.dumpOnFailure(t)
	if err := c.poweroff(60 * time.Second); err != nil {
		t.Errorf("power off: %v", err)
	}
	t.Logf("this run took %s in all", time.Since(began).Round(100*time.Millisecond))
}

// unattended runs a package command inside as cron or unattended-upgrades would: no
// terminal, standard input at end of file, no debconf questions, and no conffile
// options, so a conffile prompt fails it (dpkg reads EOF) instead of being answered.
// timeout guards against a prompt that waits anyway. It returns stdout and stderr merged.
func (c *container) unattended(t *testing.T, argv ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	script := `exec timeout --kill-after=10 120 "$@" </dev/null 2>&1`
	return c.run(ctx, append([]string{"env", "DEBIAN_FRONTEND=noninteractive", "sh", "-c", script, "sh"}, argv...)...)
}

// withoutProgress drops dpkg's "(Reading database ... 5%" lines, which fill a log
// without a terminal to redraw them.
func withoutProgress(out string) string {
	var kept []string
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "(Reading database") {
			kept = append(kept, line)
		}
	}
	return strings.Join(kept, "\n")
}

// buildDeb builds the amd64 package with packaging/build-deb.sh at version, shipping
// example as /usr/share/thingd/thingd.toml, into the test's temp dir (the repository's
// bin/ and dist/ stay as they are).
func buildDeb(t *testing.T, version string, example []byte) string {
	t.Helper()
	out := t.TempDir()
	examplePath := filepath.Join(out, "thingd.toml")
	if err := os.WriteFile(examplePath, example, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("../build-deb.sh", "amd64")
	cmd.Env = append(os.Environ(), "OUT="+out, "EXAMPLE="+examplePath, "VERSION="+version)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("packaging/build-deb.sh amd64 (VERSION=%s): %v\n%s", version, err, tail(string(b), 30))
	}
	deb := filepath.Join(out, "dist", "thingd_"+version+"_amd64.deb")
	if _, err := os.Stat(deb); err != nil {
		t.Fatalf("build-deb.sh made no %s: %v", deb, err)
	}
	return deb
}

// debField reads a control field of a .deb file.
func debField(t *testing.T, deb, field string) string {
	t.Helper()
	out, err := exec.Command("dpkg-deb", "--field", deb, field).Output()
	if err != nil {
		t.Fatalf("dpkg-deb --field %s %s: %v", deb, field, err)
	}
	return strings.TrimSpace(string(out))
}

// connectKit is a connect kit as the AWS IoT console packs it, for thing MyThing with a
// fresh certificate and key: what the admin feeds `thingd import`.
func connectKit(t *testing.T) []byte {
	t.Helper()
	pki := testbed.NewPKI(t, testbed.PKIOptions{})
	start := "set -e\n# run pub/sub sample app using certificates downloaded in package\n" +
		"python3 aws-iot-device-sdk-python-v2/samples/pubsub.py --endpoint a1b2c3-ats.iot.us-east-1.amazonaws.com" +
		" --ca_file root-CA.crt --cert MyThing.cert.pem --key MyThing.private.key --client_id basicPubSub --topic sdk/test/python --count 0\n"
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for _, f := range [][2]string{
		{"connect_device_package/MyThing.cert.pem", string(readFile(t, pki.DeviceCertFile))},
		{"connect_device_package/MyThing.private.key", string(readFile(t, pki.DeviceKeyFile))},
		{"connect_device_package/start.sh", start},
	} {
		fw, err := w.Create(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fw.Write([]byte(f[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
