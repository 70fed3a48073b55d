package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"thingd/internal/testbed"
)

// unitNOFILE is LimitNOFILE= in systemd/thingd.service (packaging/unit_test.go holds the
// unit to it): soft and hard limit both, so the Go runtime, which raises the soft limit
// to the hard one at start, has nothing to raise.
const unitNOFILE = "4096"

// Where the syscall probe lives in the root, and where it writes (the unit's
// StateDirectory, the one place its sandbox lets it write).
const (
	probePath = "/usr/local/libexec/thingd-e2e-syscalls"
	probeOut  = "/var/lib/thingd/e2e-syscalls"
)

// probeSubscription runs the probe as a [[subscribe]] handler: thingd's child, so under
// the very seccomp filter, capabilities and user of thingd.service.
const probeSubscription = `
[[subscribe]]
topic = "e2e/{thing}/syscalls"
exec  = ["` + probePath + `"]
`

// syscallNumbers are the calls the probe makes, per Debian architecture.
var syscallNumbers = map[string]map[string]int{
	"amd64": {"clock_settime": 227, "adjtimex": 159, "getrlimit": 97, "setrlimit": 160},
	"armhf": {"clock_settime": 262, "adjtimex": 124, "getrlimit": 191, "setrlimit": 75},
}

// probeScript is a perl program (perl-base is in every Debian root) that makes each call
// once and writes "name result errno" lines. None of them can change anything:
// CLOCK_MONOTONIC has no setter, so clock_settime on it is EINVAL once past the filter
// (EPERM is only the filter's answer: the kernel checks the clock before capabilities);
// adjtimex with modes 0 only reads; setrlimit sets the limit getrlimit just read.
func probeScript(t *testing.T, arch string) []byte {
	t.Helper()
	nr, ok := syscallNumbers[arch]
	if !ok {
		t.Fatalf("no syscall numbers for %s in the e2e probe", arch)
	}
	return []byte(fmt.Sprintf(`#!/usr/bin/perl
use strict;
use warnings;
my %%nr = (clock_settime => %d, adjtimex => %d, getrlimit => %d, setrlimit => %d);
my $path = $ARGV[0] // '%[5]s';
open(my $out, '>', "$path.tmp") or die "open $path.tmp: $!";
sub call {
	my ($name, @args) = @_;
	$! = 0;
	my $r = syscall($nr{$name}, @args);
	printf $out "%%s %%d %%d\n", $name, $r, $r == -1 ? $! + 0 : 0;
}
my $ts = "\0" x 16;
call('clock_settime', 1, $ts);
my $tx = "\0" x 512;
call('adjtimex', $tx);
my $rl = "\0" x 16;
call('getrlimit', 7, $rl);
call('setrlimit', 7, $rl);
close($out) or die "close: $!";
rename("$path.tmp", $path) or die "rename: $!";
`, nr["clock_settime"], nr["adjtimex"], nr["getrlimit"], nr["setrlimit"], probeOut))
}

// checkSyscallFilter runs the probe through thingd and reads what each call returned.
// Natively the filter must pass @clock (clock_settime EINVAL, adjtimex a clock state) and
// refuse @resources with EPERM (setrlimit), which shows it is in force; under qemu-user
// the unit gets no filter of its own, so setrlimit succeeds, as docs/e2e.md says.
func checkSyscallFilter(t *testing.T, c *container, broker *testbed.Mosquitto, emulated bool) {
	c.must(t, "rm", "-f", probeOut)
	broker.Publish(t, "e2e/"+thing+"/syscalls", []byte("probe"), 1)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out string
	deadline := time.Now().Add(60 * time.Second)
	for {
		o, err := c.run(ctx, "cat", probeOut)
		if err == nil {
			out = o
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the syscall probe wrote nothing to %s in 60s: %v", probeOut, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Logf("syscall probe under thingd.service:\n%s", out)
	got := parseProbe(t, out)
	if g := got["clock_settime"]; g != [2]int{-1, einval} {
		t.Errorf("clock_settime(CLOCK_MONOTONIC) = %d errno %d; want -1 EINVAL from the kernel (EPERM would be the filter denying @clock)", g[0], g[1])
	}
	if g := got["adjtimex"]; g[0] < 0 {
		t.Errorf("adjtimex(modes 0) = %d errno %d; want the clock state: the filter must let @clock through", g[0], g[1])
	}
	if g := got["getrlimit"]; g != [2]int{0, 0} {
		t.Errorf("getrlimit(RLIMIT_NOFILE) = %d errno %d; want 0", g[0], g[1])
	}
	// nspawn filters every process in the container; the unit's filter comes on top.
	own, outer := seccompFilters(t, c, c.show(t, "MainPID")["MainPID"]), seccompFilters(t, c, "1")
	t.Logf("seccomp filters: thingd %d, the container's PID 1 %d (nspawn's)", own, outer)
	if emulated {
		// qemu-user does not install a guest's seccomp filter (it would apply to qemu's own
		// host syscalls); systemd starts the unit without one.
		if g := got["setrlimit"]; g != [2]int{0, 0} || own != outer {
			t.Errorf("under qemu-user: setrlimit = %v, thingd has %d filters, PID 1 %d; docs/e2e.md says "+
				"the unit's filter is not installed (0 0, equal counts): update it", g, own, outer)
		}
		return
	}
	if g := got["setrlimit"]; g != [2]int{-1, eperm} {
		t.Errorf("setrlimit(RLIMIT_NOFILE, unchanged) = %d errno %d; want -1 EPERM from ~@resources", g[0], g[1])
	}
	if own <= outer {
		t.Errorf("thingd has %d seccomp filters, the container's PID 1 %d: the unit installed none", own, outer)
	}
	// The control: the same probe where a filter denies @clock must see EPERM, or it
	// could not tell a denied call from one the kernel answered.
	const denied = "/run/e2e-syscalls-denied"
	c.must(t, "systemd-run", "--wait", "--quiet", "-p", "SystemCallFilter=~@clock", "-p", "SystemCallErrorNumber=EPERM", probePath, denied)
	ctl := parseProbe(t, c.must(t, "cat", denied))
	t.Logf("the control, under SystemCallFilter=~@clock: %v", ctl)
	if ctl["clock_settime"] != [2]int{-1, eperm} || ctl["adjtimex"] != [2]int{-1, eperm} {
		t.Errorf("the probe under SystemCallFilter=~@clock: %v; want clock_settime and adjtimex -1 EPERM", ctl)
	}
}

const eperm, einval = 1, 22

// parseProbe reads the probe's "name result errno" lines.
func parseProbe(t *testing.T, out string) map[string][2]int {
	t.Helper()
	got := map[string][2]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var name string
		var r, errno int
		if _, err := fmt.Sscan(line, &name, &r, &errno); err != nil {
			t.Fatalf("probe line %q: %v", line, err)
		}
		got[name] = [2]int{r, errno}
	}
	return got
}

// seccompFilters is Seccomp_filters of a process in the container.
func seccompFilters(t *testing.T, c *container, pid string) int {
	t.Helper()
	for _, line := range strings.Split(c.must(t, "cat", "/proc/"+pid+"/status"), "\n") {
		if v, ok := strings.CutPrefix(line, "Seccomp_filters:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("Seccomp_filters of %s: %q", pid, v)
			}
			return n
		}
	}
	t.Fatalf("no Seccomp_filters in /proc/%s/status (Linux 5.9 or later has it)", pid)
	return 0
}

// checkNOFILE reads thingd's file-descriptor limits as the kernel applies them.
func checkNOFILE(t *testing.T, c *container) {
	p := c.show(t, "LimitNOFILE", "LimitNOFILESoft", "MainPID")
	limits := c.must(t, "cat", "/proc/"+p["MainPID"]+"/limits")
	var soft, hard string
	for _, line := range strings.Split(limits, "\n") {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			if f := strings.Fields(rest); len(f) >= 2 {
				soft, hard = f[0], f[1]
			}
		}
	}
	t.Logf("systemd: LimitNOFILE=%s LimitNOFILESoft=%s; /proc/%s/limits: open files soft %s hard %s",
		p["LimitNOFILE"], p["LimitNOFILESoft"], p["MainPID"], soft, hard)
	if soft != unitNOFILE || hard != unitNOFILE {
		t.Errorf("thingd runs with open files soft %s hard %s; want %s and %s (LimitNOFILE=%s in the unit)", soft, hard, unitNOFILE, unitNOFILE, unitNOFILE)
	}
	if _, err := strconv.Atoi(soft); err != nil {
		t.Errorf("no open-files limit in /proc/%s/limits:\n%s", p["MainPID"], limits)
	}
}

// checkRemovePurge removes the package from the running system and then purges it, as an
// administrator would, and checks what each leaves (packaging/deb/prerm, postrm).
func checkRemovePurge(t *testing.T, c *container, root, cfgPath, goodConfig string) {
	// An earlier subtest left a config that does not load.
	mustWrite(t, cfgPath, []byte(goodConfig), 0o644, 0, 0)
	c.must(t, "systemctl", "start", "thingd.service")
	c.waitShow(t, 60*time.Second, func(p map[string]string) bool { return p["ActiveState"] == "active" }, "ActiveState")
	c.must(t, "dpkg", "--remove", "thingd")
	p := c.show(t, "ActiveState", "Result", "ExecMainStatus", "UnitFileState")
	if p["ActiveState"] != "inactive" || p["Result"] != "success" || p["ExecMainStatus"] != "0" {
		t.Errorf("after dpkg --remove: %v; want the prerm to have stopped it cleanly (inactive, success, 0)", p)
	}
	exists := func(rel string) bool { _, err := os.Lstat(filepath.Join(root, rel)); return err == nil }
	for rel, want := range map[string]bool{
		"usr/bin/thingd":                        false,
		"usr/lib/systemd/system/thingd.service": false,
		"var/lib/thingd":                        true, // the queue survives a remove
		"etc/thingd/thingd.toml":                true,
	} {
		if exists(rel) != want {
			t.Errorf("after dpkg --remove, /%s exists = %v; want %v", rel, !want, want)
		}
	}
	c.must(t, "dpkg", "--purge", "thingd")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for rel, want := range map[string]bool{
		"var/lib/thingd":                      false,
		"etc/thingd/thingd.toml":              false,
		"etc/thingd/certs/device.private.key": true,  // the device's identity stays
		"etc/systemd/system/thingd.service":   false, // the remove's mask is gone
	} {
		if exists(rel) != want {
			t.Errorf("after dpkg --purge, /%s exists = %v; want %v", rel, !want, want)
		}
	}
	if status, err := c.run(ctx, "dpkg-query", "-W", "-f=${db:Status-Status}", "thingd"); err == nil && status != "not-installed" {
		t.Errorf("dpkg-query after purge: %q; want not-installed", status)
	}
	c.must(t, "getent", "passwd", "thingd") // Debian practice: the user stays
	if p := c.show(t, "LoadState"); p["LoadState"] != "not-found" {
		t.Errorf("after purge thingd.service LoadState=%s; want not-found", p["LoadState"])
	}
}
