package session

import "time"

// State is a snapshot of the connection for status reports.
type State struct {
	Connected      bool
	Since          time.Time // when Connected last changed (zero before the first attempt ends)
	Reconnects     int       // successful connections after the first
	Attempts       int       // connection attempts (TCP/TLS dials) so far
	SessionPresent bool      // the last CONNACK said the broker kept our session
	Subscribed     bool      // every subscription has its SUBACK on this connection
	InFlight       int       // QoS1 publishes waiting for their PUBACK
	DroppedQoS0    int64     // inbound QoS0 messages dropped because the inbox was full
	LastError      string    // the last connection failure or loss, "" if none yet
}

// EventKind says what happened to the connection.
type EventKind int

// Event kinds.
const (
	EventConnected     EventKind = iota + 1 // a CONNACK accepted us (and resends were queued)
	EventDisconnected                       // an established connection ended
	EventConnectFailed                      // an attempt failed; the next follows after a backoff
	EventSubscribed                         // every subscription is in place on this connection
)

func (k EventKind) String() string {
	switch k {
	case EventConnected:
		return "connected"
	case EventDisconnected:
		return "disconnected"
	case EventConnectFailed:
		return "connect failed"
	case EventSubscribed:
		return "subscribed"
	}
	return "unknown"
}

// Event is passed to Options.OnEvent.
type Event struct {
	Kind           EventKind
	At             time.Time
	SessionPresent bool          // EventConnected
	Reconnects     int           // EventConnected: successful connections after the first
	Lasted         time.Duration // EventDisconnected: how long the connection was up
	Err            error         // EventDisconnected (nil for our own clean disconnect), EventConnectFailed
}
