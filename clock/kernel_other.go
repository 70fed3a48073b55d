//go:build !linux

package clock

import (
	"errors"
	"time"
)

func kernelClockSynced() (bool, error) { return false, errors.ErrUnsupported }

func setSystemClock(time.Time) error { return errors.ErrUnsupported }
