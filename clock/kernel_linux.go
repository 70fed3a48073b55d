package clock

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// kernelClockSynced asks the kernel (read-only adjtimex) whether an NTP daemon keeps the
// clock synchronised: not when STA_UNSYNC is set or the state is TIME_ERROR.
func kernelClockSynced() (bool, error) {
	var tx unix.Timex // Modes == 0: only read
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return false, fmt.Errorf("adjtimex: %w", err)
	}
	return state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0, nil
}

// setSystemClock steps CLOCK_REALTIME; it fails with EPERM without CAP_SYS_TIME.
func setSystemClock(t time.Time) error {
	ts := unix.NsecToTimespec(t.UnixNano())
	if err := unix.ClockSettime(unix.CLOCK_REALTIME, &ts); err != nil {
		return fmt.Errorf("set the system clock: %w", err)
	}
	return nil
}
