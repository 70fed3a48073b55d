package clock

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/beevik/ntp"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// epoch is the true time when the fake monotonic clock reads zero.
var epoch = time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)

// world fakes everything outside the Clock: true time, a system clock that may be wrong, the
// kernel's sync flag, the setter and NTP servers (addr -> behaviour).
type world struct {
	mu           sync.Mutex
	mono         time.Duration
	wallErr      time.Duration // system clock minus true time
	kernelSynced bool
	setErr       error
	sets         []time.Time
	servers      map[string]*fakeServer
	queries      int
}

type fakeServer struct {
	skew    time.Duration // server clock minus true time
	err     error
	mangle  func(*ntp.Response)
	queries int
}

func newWorld(wallErr time.Duration) *world {
	return &world{wallErr: wallErr, servers: map[string]*fakeServer{}}
}

func (w *world) trueNow() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return epoch.Add(w.mono)
}

func (w *world) advance(d time.Duration) {
	w.mu.Lock()
	w.mono += d
	w.mu.Unlock()
}

// stepWall is another daemon setting the system clock.
func (w *world) stepWall(wallErr time.Duration) {
	w.mu.Lock()
	w.wallErr = wallErr
	w.mu.Unlock()
}

func (w *world) Mono() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mono
}

func (w *world) Wall() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return epoch.Add(w.mono + w.wallErr)
}

func (w *world) Set(t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sets = append(w.sets, t)
	if w.setErr != nil {
		return w.setErr
	}
	w.wallErr = t.Sub(epoch.Add(w.mono))
	return nil
}

func (w *world) setCalls() []time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Time(nil), w.sets...)
}

func (w *world) KernelSynced() (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.kernelSynced, nil
}

func (w *world) addServer(addr string, s *fakeServer) { w.servers[addr] = s }

func (w *world) Query(_ context.Context, addr string) (*ntp.Response, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.queries++
	s, ok := w.servers[addr]
	if !ok {
		return nil, errors.New("no such server")
	}
	s.queries++
	if s.err != nil {
		return nil, s.err
	}
	now := epoch.Add(w.mono + s.skew)
	r := &ntp.Response{
		ClockOffset:   now.Sub(epoch.Add(w.mono + w.wallErr)),
		RTT:           10 * time.Millisecond,
		Stratum:       2,
		Version:       4,
		Time:          now,
		ReferenceTime: now.Add(-time.Minute),
		RootDistance:  10 * time.Millisecond,
	}
	if s.mangle != nil {
		s.mangle(r)
	}
	return r, nil
}

// testClock builds a Clock on w; edit adjusts the options. The setter is always the fake.
func testClock(t *testing.T, w *world, edit func(*Options)) (*Clock, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	o := Options{
		Step:         StepNever,
		BuildTime:    epoch.Add(-30 * 24 * time.Hour),
		Logger:       zap.New(core),
		Query:        w.Query,
		Mono:         w.Mono,
		Wall:         w.Wall,
		SetSystem:    w.Set,
		KernelSynced: w.KernelSynced,
	}
	for addr := range w.servers {
		o.Servers = append(o.Servers, addr)
	}
	slices.Sort(o.Servers)
	if edit != nil {
		edit(&o)
	}
	if o.SetSystem == nil || o.KernelSynced == nil {
		t.Fatal("tests must never use the real system clock setter or adjtimex")
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c, logs
}

func mustSync(t *testing.T, c *Clock) {
	t.Helper()
	if err := c.syncOnce(context.Background()); err != nil {
		t.Fatalf("sync: %v", err)
	}
}

func assertTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %s, want %s (off by %v)", what, got.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano), got.Sub(want))
	}
}
