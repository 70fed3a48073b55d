package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// capSysTime is CAP_SYS_TIME's bit in /proc/PID/status capability masks.
const capSysTime = 25

// nspawnArgs are shared by the install run and the boot. --keep-unit: this machine's PID 1
// need not be systemd, and --register=no with --keep-unit never asks its bus for anything.
// No --private-network: the container shares this machine's loopback, where the test's
// broker and chronyd listen. --link-journal=no keeps the host's /var/log/journal untouched.
func nspawnArgs(root, machine string) []string {
	return []string{
		"--quiet", "--register=no", "--keep-unit", "--link-journal=no",
		"--directory=" + root, "--machine=" + machine,
		"--drop-capability=CAP_SYS_TIME",
		// Without CAP_SYS_TIME nspawn's own seccomp filter also denies every @clock call,
		// even a read-only adjtimex, so the unit's filter could never be seen passing
		// them. Letting them past nspawn is safe: the kernel still refuses any change of a
		// clock to a process without CAP_SYS_TIME, and no process in here can have it.
		"--system-call-filter=@clock",
		"--resolv-conf=off", "--timezone=off",
	}
}

// installDeb runs `dpkg -i` in the root as a person would on a device, before it boots:
// the postinst creates the user and enables the unit; it starts nothing, as PID 1 is not
// systemd yet.
func installDeb(t *testing.T, root, machine, deb string) {
	t.Helper()
	args := append(nspawnArgs(root, machine+"-install"),
		"--as-pid2", "--console=pipe", "--setenv=DEBIAN_FRONTEND=noninteractive",
		"--bind-ro="+deb+":/tmp/thingd.deb",
		"dpkg", "-i", "/tmp/thingd.deb")
	cmd := exec.Command("systemd-nspawn", args...)
	out, err := cmd.CombinedOutput()
	t.Logf("dpkg -i %s:\n%s", filepath.Base(deb), tail(string(out), 20))
	if err != nil {
		t.Fatalf("dpkg -i %s in the e2e root: %v", deb, err)
	}
	forgetPropagate(machine + "-install")
}

// container is one booted systemd-nspawn container.
type container struct {
	t       *testing.T
	root    string
	machine string
	nspawn  *exec.Cmd
	exited  chan struct{}
	console *os.File
	leader  int  // the container's PID 1, as this machine sees it
	dumped  bool // dumpOnFailure has logged the unit's state
}

// boot starts systemd in root and returns once PID 1 is found; it is powered off in t.Cleanup.
// extra are more systemd-nspawn options (the upgrade test's --private-network).
func boot(t *testing.T, root, machine, consoleLog string, extra ...string) *container {
	t.Helper()
	console, err := os.Create(consoleLog)
	if err != nil {
		t.Fatal(err)
	}
	args := append(append(nspawnArgs(root, machine), extra...), "--boot", "--console=read-only")
	cmd := exec.Command("systemd-nspawn", args...)
	cmd.Stdout, cmd.Stderr = console, console
	// If the test binary dies (a -timeout panic skips cleanups), nspawn gets SIGTERM,
	// which it turns into an orderly shutdown of the container.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		console.Close()
		t.Fatalf("start systemd-nspawn: %v", err)
	}
	c := &container{t: t, root: root, machine: machine, nspawn: cmd, exited: make(chan struct{}), console: console}
	go func() {
		_ = cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(c.stop)

	deadline := time.Now().Add(30 * time.Second)
	for c.leader == 0 {
		select {
		case <-c.exited:
			t.Fatalf("systemd-nspawn exited during boot: %v\n%s", cmd.ProcessState, c.consoleTail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no systemd PID 1 under systemd-nspawn (pid %d) after 30s\n%s", cmd.Process.Pid, c.consoleTail())
		}
		c.leader = findLeader(cmd.Process.Pid)
		time.Sleep(100 * time.Millisecond)
	}
	return c
}

// findLeader returns the child of nspawn that is systemd in a PID namespace of its own, or 0.
func findLeader(nspawn int) int {
	self, _ := os.Readlink("/proc/self/ns/pid")
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", nspawn))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, field := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(field)
			if err != nil {
				continue
			}
			comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
			ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid))
			if strings.TrimSpace(string(comm)) == "systemd" && ns != "" && ns != self {
				return pid
			}
		}
	}
	return 0
}

// capBounding is the bounding set of pid as this machine's /proc shows it.
func capBounding(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return capField(string(b), "CapBnd")
}

func capField(status, name string) (uint64, error) {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, fmt.Errorf("no %s line in /proc status", name)
}

// run executes argv inside the container (all its namespaces, its root) with a clean
// environment, and returns stdout; stderr is folded into the error.
func (c *container) run(ctx context.Context, argv ...string) (string, error) {
	base := []string{"-t", strconv.Itoa(c.leader), "-a", "--", "/usr/bin/env", "-i",
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LANG=C.UTF-8", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0", "TERM=dumb"}
	cmd := exec.CommandContext(ctx, "nsenter", append(base, argv...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("%s in the container: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// must runs argv inside with a minute's deadline and fails the test on an error.
func (c *container) must(t *testing.T, argv ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := c.run(ctx, argv...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitBooted waits for systemd's start-up jobs to finish; a degraded system is logged,
// not fatal, since the test checks thingd's unit itself.
func (c *container) waitBooted(timeout time.Duration) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		out, err := c.run(ctx, "systemctl", "is-system-running", "--wait")
		state := strings.TrimSpace(out)
		switch state {
		case "running":
			return
		case "degraded":
			failed, _ := c.run(ctx, "systemctl", "--failed", "--no-legend")
			c.t.Logf("container booted degraded; failed units:\n%s", failed)
			return
		}
		if ctx.Err() != nil {
			c.t.Fatalf("container did not finish booting within %s (state %q, %v)\n%s", timeout, state, err, c.consoleTail())
		}
		time.Sleep(200 * time.Millisecond) // the bus may not be up yet
	}
}

// stop powers the container off, kills nspawn by PID if that hangs, and forgets the
// state nspawn leaves on this machine.
func (c *container) stop() {
	select {
	case <-c.exited:
	default:
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := c.run(ctx, "systemctl", "poweroff", "--no-block")
		cancel()
		if err != nil {
			c.t.Logf("poweroff: %v", err)
		}
		if !c.waitExit(60 * time.Second) {
			c.t.Logf("container did not power off in 60s; SIGTERM to systemd-nspawn (pid %d)", c.nspawn.Process.Pid)
			_ = c.nspawn.Process.Signal(syscall.SIGTERM)
			if !c.waitExit(20 * time.Second) {
				// Killing the namespace's PID 1 takes every process in it along.
				_ = syscall.Kill(c.leader, syscall.SIGKILL)
				_ = c.nspawn.Process.Kill()
				c.waitExit(10 * time.Second)
			}
		}
	}
	c.console.Close()
	forgetPropagate(c.machine)
}

func (c *container) waitExit(d time.Duration) bool {
	select {
	case <-c.exited:
		return true
	case <-time.After(d):
		return false
	}
}

// poweroff shuts the container down and returns how nspawn exited.
func (c *container) poweroff(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.run(ctx, "systemctl", "poweroff", "--no-block"); err != nil {
		return err
	}
	if !c.waitExit(timeout) {
		return errors.New("the container did not power off within " + timeout.String())
	}
	if !c.nspawn.ProcessState.Success() {
		return fmt.Errorf("systemd-nspawn exited with %v", c.nspawn.ProcessState)
	}
	return nil
}

func (c *container) consoleTail() string {
	b, _ := os.ReadFile(c.console.Name())
	return "console (last lines):\n" + tail(string(b), 40)
}

// forgetPropagate removes the per-machine directory nspawn creates under this machine's
// /run and, when /run is not a tmpfs, refuses to delete itself.
func forgetPropagate(machine string) {
	_ = os.RemoveAll(filepath.Join("/run/systemd/nspawn/propagate", machine))
}
