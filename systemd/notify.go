package systemd

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"thingd/internal/human"
)

// Notifier tells systemd about the service's state over $NOTIFY_SOCKET.
// Without $NOTIFY_SOCKET (not started by systemd) every call is a no-op.
// It is safe for concurrent use.
type Notifier struct {
	log *zap.Logger

	// send delivers one notification; a field so tests can make it fail.
	send func(state string) error
	// monotonicUsec reads CLOCK_MONOTONIC in microseconds, the clock
	// systemd compares MONOTONIC_USEC against.
	monotonicUsec func() (int64, error)

	mu         sync.Mutex
	lastStatus string
	statusSent bool
}

// NewNotifier returns a Notifier that writes to $NOTIFY_SOCKET. It keeps the
// variable in the environment; the unit's NotifyAccess=main makes systemd
// ignore anything a child process might send.
func NewNotifier(log *zap.Logger) *Notifier {
	if log == nil {
		log = zap.NewNop()
	}
	return &Notifier{
		log:           log,
		send:          sdNotify,
		monotonicUsec: monotonicUsec,
	}
}

// Ready reports that start-up (or a reload) finished: READY=1.
func (n *Notifier) Ready() error {
	return n.notify(daemon.SdNotifyReady)
}

// Stopping reports that shutdown began: STOPPING=1.
func (n *Notifier) Stopping() error {
	return n.notify(daemon.SdNotifyStopping)
}

// Reloading reports that a configuration reload began. MONOTONIC_USEC lets
// systemd (Type=notify-reload, v253+) match this message to the reload it
// asked for; older versions ignore it. Follow it with Ready.
func (n *Notifier) Reloading() error {
	usec, err := n.monotonicUsec()
	if err != nil {
		return fmt.Errorf("read CLOCK_MONOTONIC for the RELOADING=1 notification: %w", err)
	}
	return n.notify(daemon.SdNotifyReloading + "\nMONOTONIC_USEC=" + strconv.FormatInt(usec, 10))
}

// Status sets the one-line text `systemctl status` shows. Line breaks become
// spaces: the protocol is newline-separated, so a stray newline would end the
// STATUS= field and could smuggle in another assignment. A line equal to the
// last one sent is not sent again, so callers may report on every tick.
func (n *Notifier) Status(line string) error {
	line = human.OneLine(line)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.statusSent && line == n.lastStatus {
		return nil
	}
	if err := n.notify("STATUS=" + line); err != nil {
		return err
	}
	n.lastStatus, n.statusSent = line, true
	return nil
}

func (n *Notifier) notify(state string) error {
	if err := n.send(state); err != nil {
		field, _, _ := strings.Cut(state, "=")
		return fmt.Errorf("notify systemd of %s via NOTIFY_SOCKET: %w", field, err)
	}
	return nil
}

func sdNotify(state string) error {
	_, err := daemon.SdNotify(false, state)
	return err
}

func monotonicUsec() (int64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, err
	}
	return ts.Nano() / 1000, nil
}
