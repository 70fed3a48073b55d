// Package clock keeps thingd's trusted time: NTP time carried forward on the monotonic clock,
// never earlier than the clock floor, stepping the system clock only when allowed.
package clock

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/beevik/ntp"
	"go.uber.org/zap"
)

// Step modes (config key clock.step).
const (
	StepAuto  = "auto"  // set the system clock when it is off by more than a second and nobody else syncs it
	StepNever = "never" // never touch the system clock
)

// Options configures a Clock. Only Servers, Step, StateFile, BuildTime and Logger come from the
// configuration; the function fields exist so tests can fake the outside world (nil = the real one).
type Options struct {
	Servers   []string  // "host" or "host:port" ("[v6]:port" for IPv6 with a port)
	Step      string    // StepAuto (default when empty) or StepNever
	StateFile string    // where the last good time is kept across reboots; "" = not kept
	BuildTime time.Time // the binary's build time: the clock can never be earlier
	Logger    *zap.Logger

	// Query asks one NTP server; addr is always "host:port".
	Query func(ctx context.Context, addr string) (*ntp.Response, error)
	// Mono is a monotonic clock: any origin, it only has to move forward at the rate of real time.
	Mono func() time.Duration
	// Wall reads the system clock.
	Wall func() time.Time
	// SetSystem sets the system clock (needs CAP_SYS_TIME).
	SetSystem func(time.Time) error
	// KernelSynced reports whether another daemon keeps the kernel clock synchronised.
	KernelSynced func() (bool, error)
}

// Clock is the trusted time source. Create it with New, start Run once, share it freely.
type Clock struct {
	log       *zap.Logger
	servers   []server
	step      string
	stateFile string
	// floor and floorFrom are guarded by mu: a saved floor that honest servers contradict
	// for good is dropped (see believeBelowFloor).
	floor      time.Time
	floorFrom  string        // where the floor came from, for messages
	buildFloor time.Time     // the build time: a floor no answer can get below
	mono0      time.Duration // Mono() when the floor was established
	// belowFloor counts consecutive syncs whose agreed time was before a saved floor.
	belowFloor   int
	query        func(ctx context.Context, addr string) (*ntp.Response, error)
	mono         func() time.Duration
	wall         func() time.Time
	setSystem    func(time.Time) error
	kernelSynced func() (bool, error)

	// Timers of the sync and save loops; replaced in tests.
	syncTimer func(time.Duration) <-chan time.Time
	saveTimer func(time.Duration) <-chan time.Time

	trusted     chan struct{}
	trustedOnce sync.Once

	failing map[string]bool // servers whose last answer was unusable; only the sync loop touches it

	saveMu      sync.Mutex // one save at a time
	saveFailing bool

	mu sync.Mutex
	st state
}

// state is what the sync loop learns; guarded by Clock.mu.
type state struct {
	synced       bool
	base         time.Time // trusted time at Mono() == 0: trusted now = base + Mono()
	source       string
	lastSync     time.Time
	stepped      bool
	stepDenied   bool // the setter said EPERM once: never ask again
	kernelSynced bool
	lastErr      string
}

// New builds a Clock and raises its floor to the newest of the saved last good time and the
// build time. A missing state file is normal on first boot; an unreadable one is logged and ignored.
func New(o Options) (*Clock, error) {
	c := &Clock{
		log:          o.Logger,
		step:         o.Step,
		stateFile:    o.StateFile,
		query:        o.Query,
		mono:         o.Mono,
		wall:         o.Wall,
		setSystem:    o.SetSystem,
		kernelSynced: o.KernelSynced,
		syncTimer:    time.After,
		saveTimer:    time.After,
		trusted:      make(chan struct{}),
		failing:      map[string]bool{},
	}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	c.log = c.log.With(zap.String("component", "clock"))
	switch c.step {
	case "":
		c.step = StepAuto
	case StepAuto, StepNever:
	default:
		return nil, fmt.Errorf("clock step %q is not valid: use %q or %q", o.Step, StepAuto, StepNever)
	}
	for _, s := range o.Servers {
		srv, err := parseServer(s)
		if err != nil {
			return nil, err
		}
		c.servers = append(c.servers, srv)
	}
	if c.query == nil {
		c.query = QueryNTP
	}
	if c.mono == nil {
		start := time.Now()
		c.mono = func() time.Duration { return time.Since(start) }
	}
	if c.wall == nil {
		c.wall = time.Now
	}
	if c.setSystem == nil {
		c.setSystem = setSystemClock
	}
	if c.kernelSynced == nil {
		c.kernelSynced = kernelClockSynced
	}
	c.mono0 = c.mono()
	c.buildFloor = o.BuildTime.UTC().Round(0)
	c.floor, c.floorFrom = c.loadFloor(o.BuildTime)
	return c, nil
}

// loadFloor returns the newest of the build time and the time saved in the state file.
func (c *Clock) loadFloor(build time.Time) (time.Time, string) {
	floor, from := build.UTC().Round(0), "the build time"
	if c.stateFile == "" {
		return floor, from
	}
	saved, err := loadState(c.stateFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.log.Info("no saved clock time yet (first boot)", zap.String("file", c.stateFile))
	case err != nil:
		c.log.Warn("ignoring the saved clock time", zap.Error(err))
	case saved.After(floor):
		floor, from = saved, "saved in "+c.stateFile
	}
	return floor, from
}

// Floor is the earliest time the clock will ever report: the newest of the saved last good
// time and the build time, fixed when the Clock was created.
func (c *Clock) Floor() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.floor
}

// Now is the best time known: trusted time once synced, else the system clock but never
// earlier than the floor. Safe for tls.Config.Time and for timestamps.
func (c *Clock) Now() time.Time {
	m := c.mono()
	c.mu.Lock()
	defer c.mu.Unlock()
	t, _ := c.timeAtLocked(m)
	return t
}

// timeAtLocked is the time at monotonic reading m and whether it is trusted.
func (c *Clock) timeAtLocked(m time.Duration) (time.Time, bool) {
	if c.st.synced {
		return later(c.st.base.Add(m), c.floor), true
	}
	return later(c.wall().UTC().Round(0), c.lowerBoundLocked(m)), false
}

// lowerBound is the earliest the real time can be at monotonic reading m: the floor held when
// the Clock was created, so it still holds plus the time elapsed since.
func (c *Clock) lowerBound(m time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lowerBoundLocked(m)
}

func (c *Clock) lowerBoundLocked(m time.Duration) time.Time {
	if d := m - c.mono0; d > 0 {
		return c.floor.Add(d)
	}
	return c.floor
}

// Trusted is closed once the time is trusted: at the first NTP sync, or at once when another
// daemon keeps the kernel clock synchronised.
func (c *Clock) Trusted() <-chan struct{} { return c.trusted }

// WaitTrusted waits up to bound for trusted time. False means the caller should go on with
// the floor-based time while Run keeps trying.
func (c *Clock) WaitTrusted(ctx context.Context, bound time.Duration) bool {
	select {
	case <-c.trusted:
		return true
	default:
	}
	t := time.NewTimer(bound)
	defer t.Stop()
	select {
	case <-c.trusted:
		return true
	case <-ctx.Done():
		return false
	case <-t.C:
		return false
	}
}

func (c *Clock) markTrusted() { c.trustedOnce.Do(func() { close(c.trusted) }) }

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
