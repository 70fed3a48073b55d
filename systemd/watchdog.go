package systemd

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"
)

// Watchdog sends WATCHDOG=1 every half of the interval systemd asked for
// (WatchdogSec=, seen as $WATCHDOG_USEC), but only while healthy() is true:
// a daemon whose loops are stuck must stop pinging so systemd restarts it,
// rather than be kept alive by this goroutine alone.
//
// It returns nil at once when the watchdog is off, nil when ctx ends, and an
// error only when $WATCHDOG_USEC cannot be read. Failed pings are logged, not
// returned: the next tick tries again.
func (n *Notifier) Watchdog(ctx context.Context, healthy func() bool) error {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return fmt.Errorf("read the systemd watchdog interval from WATCHDOG_USEC=%q: %w (fix WatchdogSec= in the unit)", os.Getenv("WATCHDOG_USEC"), err)
	}
	if interval <= 0 {
		return nil
	}
	period := max(interval/2, time.Millisecond)
	log := n.log.With(zap.String("component", "watchdog"), zap.Duration("interval", interval))

	ticker := time.NewTicker(period)
	defer ticker.Stop()
	wasHealthy, lastErr := true, ""
	for {
		ok := healthy()
		switch {
		case ok && !wasHealthy:
			log.Info("watchdog pings resumed: every component made progress again")
		case !ok && wasHealthy:
			log.Warn("watchdog ping withheld: a component made no progress; systemd restarts thingd if this lasts")
		}
		wasHealthy = ok
		if ok {
			lastErr = n.ping(log, lastErr)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// ping sends one WATCHDOG=1 and logs a failure only when it differs from the
// previous one, so a vanished socket does not write a line every tick.
func (n *Notifier) ping(log *zap.Logger, lastErr string) string {
	err := n.notify(daemon.SdNotifyWatchdog)
	if err == nil {
		return ""
	}
	if err.Error() != lastErr {
		log.Warn("watchdog ping failed", zap.Error(err))
	}
	return err.Error()
}
