package clock

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
)

const (
	syncInterval = time.Hour
	minBackoff   = 2 * time.Second
	maxBackoff   = 5 * time.Minute
	saveInterval = 15 * time.Minute
)

// Run syncs now, then hourly (backing off from 2s to 5min while it fails), and saves the last
// good time every 15 minutes. It returns nil once ctx ends, after saving the time a last time.
// Call it once.
func (c *Clock) Run(ctx context.Context) error {
	if len(c.servers) == 0 {
		c.log.Info("no NTP servers configured: the time is trusted only when another daemon synchronises the kernel clock")
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.saveLoop(ctx) }()
	c.syncLoop(ctx)
	wg.Wait()
	c.save()
	return nil
}

func (c *Clock) syncLoop(ctx context.Context) {
	failures, saved := 0, false
	for {
		err := c.syncOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		delay := syncInterval
		if err != nil {
			failures++
			delay = backoff(failures)
			c.log.Debug("clock sync failed", zap.Int("failures", failures), zap.Duration("retry_in", delay), zap.Error(err))
		} else {
			failures = 0
			if !saved {
				c.save() // a device that loses power before the first periodic save still keeps a floor
				saved = true
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-c.syncTimer(delay):
		}
	}
}

// backoff is the wait after the n-th failure in a row: 2s doubling up to 5min.
func backoff(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	if n > 16 {
		return maxBackoff
	}
	return min(minBackoff<<(n-1), maxBackoff)
}

func (c *Clock) saveLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.saveTimer(saveInterval):
			c.save()
		}
	}
}

// save writes the trusted time to the state file; untrusted time is never saved, since a
// wrong time in the future would become a floor that NTP answers cannot get below.
func (c *Clock) save() {
	if c.stateFile == "" {
		return
	}
	m := c.mono()
	c.mu.Lock()
	t, trusted := c.timeAtLocked(m)
	c.mu.Unlock()
	if !trusted {
		return
	}
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	err := saveState(c.stateFile, t)
	switch {
	case err != nil && !c.saveFailing:
		c.log.Warn("could not save the clock time; the floor after a reboot will be older", zap.Error(err))
	case err != nil:
		c.log.Debug("could not save the clock time", zap.Error(err))
	case c.saveFailing:
		c.log.Info("saved the clock time again", zap.String("file", c.stateFile))
	}
	c.saveFailing = err != nil
}
