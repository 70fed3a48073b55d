package testbed

import (
	"os/exec"
	"testing"
)

// noClockCaps are the setpriv(1) flags (util-linux 2.38) that take CAP_SYS_TIME out of the
// bounding and inheritable sets: the process and everything it executes can never gain it back,
// so settimeofday/clock_settime/adjtimex fail with EPERM even for root.
var noClockCaps = []string{"--bounding-set", "-sys_time", "--inh-caps", "-sys_time", "--"}

// DaemonCommand returns an unstarted command running bin without CAP_SYS_TIME, so a daemon under
// test can never step this machine's clock. A t.Cleanup kills it (by PID) if it still runs; the
// caller starts and waits for it as usual.
func DaemonCommand(t testing.TB, bin string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := clockSafeCommand(t, bin, args...)
	t.Cleanup(func() {
		if cmd.Process != nil {
			_ = cmd.Process.Kill() // os.ErrProcessDone when it already exited
		}
	})
	return cmd
}

// clockSafeCommand is DaemonCommand without the cleanup, for callers that order their own.
func clockSafeCommand(t testing.TB, bin string, args ...string) *exec.Cmd {
	t.Helper()
	setpriv := Require(t, "setpriv", "util-linux")
	return exec.Command(setpriv, SetprivArgs(bin, args...)...)
}

// SetprivArgs are setpriv(1)'s arguments that run bin with args without CAP_SYS_TIME, for
// callers (the bench) that start and track the process themselves.
func SetprivArgs(bin string, args ...string) []string {
	return append(append(append([]string{}, noClockCaps...), bin), args...)
}
