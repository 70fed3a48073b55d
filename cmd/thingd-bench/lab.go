package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"thingd/internal/devpki"
)

// lab is one run's world: a temp directory on the real disk (so that /proc/<pid>/io sees
// the writes), a throw-away PKI, chronyd, and every process started, stopped in close.
type lab struct {
	ctx    context.Context // cancelled on SIGINT/SIGTERM: every wait gives up
	dir    string
	ps     *procs
	pki    *devpki.PKI
	thingd string
	tools  map[string]string
	ntp    *chrony
	out    io.Writer
	start  time.Time
	// thingdEnv is added to the environment of every thingd the lab starts.
	thingdEnv []string
	// profileDir, when set, runs the daemon in-process in this program (`thingd-bench
	// daemon`) with CPU and allocation profiles written there, instead of `thingd run`.
	profileDir string

	deviceCert, deviceKey string // thingd's identity (CN thingd-device)
	clientCert, clientKey string // the lab's subscribers (CN bench-client)
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
	ps, err := newProcs()
	if err != nil {
		return nil, err
	}
	l = &lab{ctx: ctx, ps: ps, thingd: bin, tools: map[string]string{}, out: out, start: time.Now()}
	for _, t := range [][2]string{{"mosquitto", "mosquitto"}, {"mosquitto_pub", "mosquitto-clients"}, {"chronyd", "chrony"}} {
		if l.tools[t[0]], err = lookTool(t[0], t[1]); err != nil {
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
	pdir := l.subdir("pki")
	if l.pki, err = devpki.New(devpki.Options{Dir: pdir, Name: "thingd bench"}); err != nil {
		return nil, err
	}
	for _, id := range []struct {
		cn        string
		cert, key *string
	}{{"thingd-device", &l.deviceCert, &l.deviceKey}, {"bench-client", &l.clientCert, &l.clientKey}, {"bench-bridge", &l.bridgeCert, &l.bridgeKey}} {
		if *id.cert, *id.key, err = l.pki.Issue(id.cn); err != nil {
			return nil, err
		}
	}
	if l.ntp, err = startChrony(l); err != nil {
		return nil, err
	}
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

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func freeUDPPort() (int, error) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

// waitTCP waits until addr accepts a TCP connection, failing early if p exits.
func waitTCP(addr string, p *proc, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited during start-up: %v", p.name, p.err)
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing accepts on %s after %v: %w", addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
