package session

import "time"

// flapDetector notices a connection that keeps dropping right after CONNACK, the signature of
// a second device using the same client ID or of an IoT policy that denies a topic, so that
// it is logged once with those causes rather than as an endless stream of bare disconnects.
type flapDetector struct {
	quick  time.Duration // a drop this soon after CONNACK counts
	limit  int           // this many quick drops in a row are reported
	stable time.Duration // a connection this long re-arms the report
	count  int
	told   bool
}

func newFlapDetector(stable time.Duration) *flapDetector {
	return &flapDetector{quick: 10 * time.Second, limit: 3, stable: stable}
}

// dropped records a connection that lasted the given time and says whether to report now.
func (f *flapDetector) dropped(lasted time.Duration) bool {
	switch {
	case lasted >= f.stable:
		f.count, f.told = 0, false
		return false
	case lasted >= f.quick:
		f.count = 0
		return false
	}
	f.count++
	if f.count >= f.limit && !f.told {
		f.told = true
		return true
	}
	return false
}
