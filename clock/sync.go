package clock

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// stepThreshold is how far off the system clock must be before "auto" steps it.
const stepThreshold = time.Second

// sourceKernel names the source when another daemon keeps the kernel clock synchronised.
const sourceKernel = "system clock (kept synchronised by another daemon)"

// syncOnce asks every server once and applies the result; nil means the time is trusted.
func (c *Clock) syncOnce(ctx context.Context) error {
	ksynced, kerr := c.kernelSynced()
	if kerr != nil {
		c.log.Debug("cannot tell whether the kernel clock is synchronised; assuming not", zap.Error(kerr))
		ksynced = false
	}
	c.mu.Lock()
	c.st.kernelSynced = ksynced
	synced := c.st.synced
	c.mu.Unlock()
	if ksynced && !synced {
		c.anchorToSystem() // trust at once; NTP, when it answers, refines it
	}

	samples, errs := c.collect(ctx)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var err error
	switch {
	case len(c.servers) == 0:
		err = errors.New("no NTP servers configured (clock.servers)")
	case len(samples) == 0:
		err = fmt.Errorf("no NTP answer from %s", strings.Join(errs, "; "))
	}
	var base time.Time
	var kept []sample
	if err == nil {
		var outliers []sample
		base, kept, outliers, err = combine(samples)
		for _, o := range outliers {
			c.log.Warn("ignoring an NTP server that disagrees with the others",
				zap.String("server", o.server), zap.Duration("offset", o.offset), zap.String("all", describe(samples)))
		}
	}
	dropped := false
	if err == nil {
		dropped, err = c.believeBelowFloor(kept)
	}
	if err != nil {
		if ksynced && c.anchorToSystem() {
			c.setLastErr(err.Error())
			return nil
		}
		c.setLastErr(err.Error())
		return err
	}
	offset := c.apply(base, kept)
	if dropped {
		c.save() // at once: a reboot before the next periodic save would bring the wrong floor back
	}
	c.maybeStep(offset, ksynced)
	return nil
}

// collect queries all servers at once and returns the usable samples and, per failed server,
// "name: reason". A server going bad or recovering is logged once, not at every attempt.
func (c *Clock) collect(ctx context.Context) ([]sample, []string) {
	samples := make([]sample, len(c.servers))
	errs := make([]error, len(c.servers))
	var wg sync.WaitGroup
	for i, srv := range c.servers {
		wg.Add(1)
		go func() { defer wg.Done(); samples[i], errs[i] = c.ask(ctx, srv) }()
	}
	wg.Wait()

	var ok []sample
	var failed []string
	for i, srv := range c.servers {
		if errs[i] != nil {
			failed = append(failed, errs[i].Error())
			if !c.failing[srv.name] && ctx.Err() == nil {
				c.log.Warn("NTP server gives no usable time", zap.String("server", srv.name), zap.Error(errs[i]))
			}
			c.failing[srv.name] = true
			continue
		}
		if c.failing[srv.name] {
			c.log.Info("NTP server answers again", zap.String("server", srv.name))
		}
		c.failing[srv.name] = false
		ok = append(ok, samples[i])
	}
	return ok, failed
}

// ask queries one server and turns a valid answer into a sample.
func (c *Clock) ask(ctx context.Context, srv server) (sample, error) {
	qctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	r, err := c.query(qctx, srv.addr)
	if err != nil {
		return sample{}, fmt.Errorf("%s: %w", srv.name, err)
	}
	if err := CheckResponse(r); err != nil {
		return sample{}, fmt.Errorf("%s: %w", srv.name, err)
	}
	// The offset is relative to the system clock, so read it together with the monotonic clock.
	m, w := c.mono(), c.wall().UTC().Round(0)
	s := sample{server: srv.name, base: w.Add(r.ClockOffset).Add(-m), offset: r.ClockOffset, rtt: r.RTT}
	c.mu.Lock()
	lb, floor, from, saved := c.lowerBoundLocked(m), c.floor, c.floorFrom, c.floor.After(c.buildFloor)
	build := c.buildFloor.Add(max(m-c.mono0, 0))
	c.mu.Unlock()
	if at := s.base.Add(m); at.Before(lb.Add(-maxDisagreement)) {
		if !saved || at.Before(build.Add(-maxDisagreement)) {
			return sample{}, fmt.Errorf("%s: says %s, before the clock floor %s (%s)",
				srv.name, at.Format(time.RFC3339), floor.Format(time.RFC3339), from)
		}
		s.belowFloor = true
	}
	return s, nil
}

// apply makes base the trusted time and returns the system clock's error (trusted - system).
func (c *Clock) apply(base time.Time, kept []sample) time.Duration {
	m, w := c.mono(), c.wall().UTC().Round(0)
	src := names(kept)
	c.mu.Lock()
	changed := c.st.source != src
	c.st.synced, c.st.base, c.st.source = true, base, src
	c.st.lastSync = base.Add(m)
	c.st.lastErr = ""
	c.mu.Unlock()

	offset := base.Add(m).Sub(w)
	log := c.log.Debug
	if changed {
		log = c.log.Info
	}
	log("clock synced", zap.String("via", src), zap.Duration("offset", offset), zap.Time("time", base.Add(m)))
	c.markTrusted()
	return offset
}

// anchorToSystem trusts the system clock because the kernel says another daemon keeps it
// synchronised. Time still runs on the monotonic clock from here, so a later step of the
// system clock is not applied twice. False when the system clock is before the floor.
func (c *Clock) anchorToSystem() bool {
	m, w := c.mono(), c.wall().UTC().Round(0)
	if w.Before(c.lowerBound(m).Add(-maxDisagreement)) {
		c.setLastErr(fmt.Sprintf("the kernel says the system clock is synchronised, but it reads %s, before the clock floor %s",
			w.Format(time.RFC3339), c.Floor().Format(time.RFC3339)))
		return false
	}
	c.mu.Lock()
	changed := c.st.source != sourceKernel
	c.st.synced, c.st.base, c.st.source = true, w.Add(-m), sourceKernel
	c.st.lastSync = w
	c.mu.Unlock()
	c.markTrusted()
	if changed {
		c.log.Info("trusting the system clock: the kernel says another daemon keeps it synchronised")
	}
	return true
}

// shouldStep decides whether to set the system clock.
func shouldStep(mode string, offset time.Duration, kernelSynced, denied bool) bool {
	return mode == StepAuto && (offset > stepThreshold || offset < -stepThreshold) && !kernelSynced && !denied
}

// maybeStep sets the system clock to trusted time when allowed and needed. Without
// CAP_SYS_TIME it says so once and never asks again: trusted time works without it.
func (c *Clock) maybeStep(offset time.Duration, kernelSynced bool) {
	c.mu.Lock()
	denied := c.st.stepDenied
	c.mu.Unlock()
	if !shouldStep(c.step, offset, kernelSynced, denied) {
		return
	}
	to := c.Now()
	err := c.setSystem(to)
	c.mu.Lock()
	switch {
	case err == nil:
		c.st.stepped = true
	case errors.Is(err, fs.ErrPermission):
		c.st.stepDenied = true
	}
	c.mu.Unlock()
	switch {
	case err == nil:
		c.log.Info("stepped the system clock", zap.Duration("by", offset), zap.Time("to", to))
	case errors.Is(err, fs.ErrPermission):
		c.log.Warn("no CAP_SYS_TIME: keeping the system clock, using NTP time for TLS and timestamps")
	default:
		c.log.Warn("could not step the system clock; using NTP time for TLS and timestamps", zap.Error(err))
	}
}

func (c *Clock) setLastErr(s string) {
	c.mu.Lock()
	c.st.lastErr = s
	c.mu.Unlock()
}

// belowFloorRounds is how many syncs in a row one server alone must put the time before a
// saved floor before it is believed; two or more servers that agree are believed at once.
const belowFloorRounds = 3

// believeBelowFloor decides about an agreed time before the floor saved in the state file.
// The saved floor is only the last time this device trusted, and that can be wrong: a
// majority of servers that lied once, or a state file carried over from a device a year
// ahead. Honest servers that contradict it for good must win, or the device stays in the
// future for ever; the build time still bounds them (ask refuses anything before it).
func (c *Clock) believeBelowFloor(kept []sample) (dropped bool, err error) {
	below := 0
	for _, s := range kept {
		if s.belowFloor {
			below++
		}
	}
	c.mu.Lock()
	if below == 0 || below < len(kept) {
		// Not every kept answer is before the floor: combine already chose among them.
		c.belowFloor = 0
		c.mu.Unlock()
		return false, nil
	}
	c.belowFloor++
	rounds, floor, from := c.belowFloor, c.floor, c.floorFrom
	if below < 2 && rounds < belowFloorRounds {
		c.mu.Unlock()
		return false, fmt.Errorf("%s says a time before the clock floor %s (%s); believed after %d syncs in a row or when a second server agrees (%d so far)",
			names(kept), floor.Format(time.RFC3339), from, belowFloorRounds, rounds)
	}
	c.floor, c.floorFrom, c.belowFloor = c.buildFloor, "the build time", 0
	c.mu.Unlock()
	c.log.Error("the saved clock time is later than what the NTP servers agree on; it was wrong, so it no longer holds the clock back: the floor falls back to the build time",
		zap.String("saved_floor", floor.Format(time.RFC3339)), zap.String("from", from),
		zap.String("servers", names(kept)), zap.Int("servers_agreeing", below), zap.Int("syncs_in_a_row", rounds))
	return true, nil
}
