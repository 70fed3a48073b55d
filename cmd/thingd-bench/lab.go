package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"thingd/internal/testbed"
)

// lab is one run's world: a temp directory on the real disk (so that /proc/<pid>/io sees
// the writes), a throw-away PKI, chronyd, and every process started, stopped in close.
// mosquitto, chronyd and the PKI are the testbed's; the lab tracks thingd and the tools.
type lab struct {
	ctx    context.Context // cancelled on SIGINT/SIGTERM: every wait gives up
	dir    string
	ps     *procs
	pki    *testbed.PKI // thingd is DeviceCert (CN thingd-device), the subscribers ClientCert
	thingd string
	tools  map[string]string
	ntp    *testbed.Chrony
	out    io.Writer
	start  time.Time
	// thingdEnv is added to the environment of every thingd the lab starts.
	thingdEnv []string
	// profileDir, when set, runs the daemon in-process in this program (`thingd-bench
	// daemon`) with CPU and allocation profiles written there, instead of `thingd run`.
	profileDir string

	bridgeCert, bridgeKey string // the bridging mosquitto (CN bench-bridge)

	mu      sync.Mutex
	n       int
	closers []func()
}

// newLab checks the tools, makes the PKI and starts chronyd. The caller defers close.
func newLab(ctx context.Context, thingdBin string, out io.Writer) (l *lab, err error) {
	bin, err := filepath.Abs(thingdBin)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("thingd binary %s: %w (run make build first)", bin, err)
	}
	l = &lab{ctx: ctx, ps: &procs{}, thingd: bin, tools: map[string]string{}, out: out, start: time.Now()}
	// Checked up front, so a missing one fails the run before anything starts.
	for _, t := range [][2]string{{"mosquitto", "mosquitto"}, {"mosquitto_pub", "mosquitto-clients"}, {"chronyd", "chrony"}, {"setpriv", "util-linux"}} {
		if l.tools[t[0]], err = testbed.Tool(t[0], t[1]); err != nil {
			return nil, err
		}
	}
	// /var/tmp, not /tmp: the queue must be on a real disk even where /tmp is a tmpfs.
	if l.dir, err = os.MkdirTemp("/var/tmp", "thingd-bench-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			l.close()
		}
	}()
	if l.pki, err = testbed.MakePKI(l.subdir("pki"), testbed.PKIOptions{Name: "thingd bench"}); err != nil {
		return nil, err
	}
	if l.bridgeCert, l.bridgeKey, err = l.pki.Issue("bench-bridge"); err != nil {
		return nil, err
	}
	// chronyd serves NTP from the local clock, so thingd's clock syncs at once and the
	// first connection does not wait for trusted time.
	if l.ntp, err = testbed.LaunchChrony(testbed.ChronyOptions{Dir: l.subdir("chrony")}); err != nil {
		return nil, err
	}
	ntp := l.ntp
	l.onClose(func() {
		if err := ntp.Close(); err != nil {
			l.logf("%v", err)
		}
	})
	return l, nil
}

// close stops every process the lab started (by PID), closes what was left open and
// removes its files.
func (l *lab) close() {
	l.ps.stopAll()
	l.mu.Lock()
	closers := l.closers
	l.closers = nil
	l.mu.Unlock()
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
	if l.dir != "" {
		os.RemoveAll(l.dir)
	}
}

// onClose registers f to run in close; f must be safe to call after it already ran.
func (l *lab) onClose(f func()) {
	l.mu.Lock()
	l.closers = append(l.closers, f)
	l.mu.Unlock()
}

// subdir makes a fresh directory under the lab's root.
func (l *lab) subdir(name string) string {
	l.mu.Lock()
	l.n++
	d := filepath.Join(l.dir, fmt.Sprintf("%s-%d", name, l.n))
	l.mu.Unlock()
	if err := os.MkdirAll(d, 0o700); err != nil {
		panic(err) // the lab's own temp dir: nothing sensible to do
	}
	return d
}

// logf prints a progress line with the time since the lab started.
func (l *lab) logf(format string, args ...any) {
	fmt.Fprintf(l.out, "[%6.1fs] %s\n", time.Since(l.start).Seconds(), fmt.Sprintf(format, args...))
}
