package session

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
	"go.uber.org/zap"
)

// describeConnectError turns paho's connect error into one that names the broker, the client
// ID and the likely fix. dialErr is our own error from opening the connection, if that was
// where it failed (paho only wraps it in "network Error").
func (s *Session) describeConnectError(err, dialErr error) error {
	if dialErr != nil {
		return fmt.Errorf("connect to %s: %w", s.addr(), dialErr)
	}
	var hint string
	switch {
	case errors.Is(err, packets.ErrorRefusedIDRejected):
		hint = "the broker rejected client ID " + strconv.Quote(s.o.ClientID) + "; use 1..128 bytes without a leading '$'"
	case errors.Is(err, packets.ErrorRefusedNotAuthorised), errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword):
		hint = "the broker refused the certificate or client ID: check that the certificate is ACTIVE and attached to " +
			"the thing and to a policy that allows iot:Connect for client ID " + strconv.Quote(s.o.ClientID)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		hint = "the broker closed the connection during CONNECT; on AWS IoT this usually means the policy does not " +
			"allow iot:Connect for client ID " + strconv.Quote(s.o.ClientID) + ", or the certificate is inactive or attached to no policy"
	}
	if hint != "" {
		return fmt.Errorf("connect to %s as %q: %w (%s)", s.addr(), s.o.ClientID, err, hint)
	}
	return fmt.Errorf("connect to %s as %q: %w", s.addr(), s.o.ClientID, err)
}

// connectFailed records and reports one failed attempt.
func (s *Session) connectFailed(err error) {
	now := s.now()
	s.mu.Lock()
	s.state.LastError = err.Error()
	if s.state.Since.IsZero() {
		s.state.Since = now
	}
	s.mu.Unlock()
	s.failLog.log(s.log, now, err)
	s.emit(Event{Kind: EventConnectFailed, At: now, Err: err})
}

// failureLog rate-limits a reconnect loop's identical failures (DESIGN.md §5: spare the SD
// card): the first one and every change are warnings, repeats are debug lines with a warning
// summary every repeatEvery.
type failureLog struct {
	last     string
	lastWarn time.Time
	repeats  int
}

const repeatEvery = 10 * time.Minute

func (f *failureLog) log(l *zap.Logger, now time.Time, err error) {
	msg := err.Error()
	if msg == f.last && now.Sub(f.lastWarn) < repeatEvery {
		f.repeats++
		l.Debug("connection attempt failed again", zap.Error(err), zap.Int("repeats", f.repeats))
		return
	}
	if msg == f.last {
		l.Warn("connection attempts keep failing", zap.Error(err), zap.Int("repeats", f.repeats+1))
	} else {
		l.Warn("connection attempt failed", zap.Error(err))
	}
	f.last, f.lastWarn, f.repeats = msg, now, 0
}

// reset forgets the failure streak once a connection succeeds.
func (f *failureLog) reset() { *f = failureLog{} }

func itoa(n int) string { return strconv.Itoa(n) }
