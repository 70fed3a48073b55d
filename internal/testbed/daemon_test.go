package testbed_test

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"

	"thingd/internal/testbed"
)

const capSysTime = 25 // linux/capability.h

// A process started through DaemonCommand has CAP_SYS_TIME in none of its capability sets,
// bounding set included, so neither it nor anything it executes can set the clock: the kernel
// answers settimeofday/clock_settime/adjtimex with EPERM. Checked from /proc, never by trying.
func TestDaemonCommandDropsSysTime(t *testing.T) {
	if own := capSets(t, readFile(t, "/proc/self/status")); own["CapBnd"]&(1<<capSysTime) == 0 {
		t.Log("this test process has no CAP_SYS_TIME in its bounding set either; the check below still runs")
	}
	sh := testbed.Require(t, "sh", "dash")
	out, err := testbed.DaemonCommand(t, sh, "-c", "cat /proc/self/status").Output()
	if err != nil {
		t.Fatalf("run sh through setpriv: %v", err)
	}
	sets := capSets(t, out)
	for _, name := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
		v, ok := sets[name]
		if !ok {
			t.Fatalf("%s missing from /proc/self/status of the child:\n%s", name, out)
		}
		if v&(1<<capSysTime) != 0 {
			t.Errorf("%s = %016x still has CAP_SYS_TIME (bit %d)", name, v, capSysTime)
		}
	}
}

func capSets(t *testing.T, status []byte) map[string]uint64 {
	t.Helper()
	sets := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || !strings.HasPrefix(k, "Cap") {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			t.Fatalf("parse %q: %v", sc.Text(), err)
		}
		sets[k] = n
	}
	return sets
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
