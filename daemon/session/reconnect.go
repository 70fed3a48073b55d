package session

import (
	"net"
	"sync"
	"time"

	"go.uber.org/zap"
)

// liveConns holds the socket of each session's latest connection attempt. It lives beside
// the Session rather than in it so that Reconnect stays one small file; an entry is one
// socket per session ever created (one per reload), and a closed socket is harmless.
var liveConns sync.Map // *Session -> net.Conn

// rememberConn is called by noteDial with the socket of each attempt.
func (s *Session) rememberConn(c net.Conn) {
	if c != nil {
		liveConns.Store(s, c)
	}
}

// Reconnect ends the current connection as if the network had dropped it: Run reconnects on
// its usual schedule and paho resends every unacknowledged QoS 1 publish (DUP=1) on the new
// connection of the persistent session. It is for a caller that knows the connection is
// stuck although paho does not (a PUBACK that never came). It reports whether a connection
// was up to be closed.
func (s *Session) Reconnect(reason string) bool {
	if !s.connected.Load() {
		return false
	}
	v, ok := liveConns.Load(s)
	if !ok {
		return false
	}
	s.log.Warn("dropping the connection to reconnect", zap.String("reason", reason))
	// An expired deadline, not Close: paho takes a read error naming a closed connection for
	// its own Disconnect and then never reports the loss (paho 1.5.0, net.go), so Run would
	// wait on a dead connection forever. A timeout is reported like a network failure, and
	// paho closes the socket itself.
	c := v.(net.Conn)
	_ = c.SetDeadline(time.Now())
	time.AfterFunc(quiesce, func() { _ = c.Close() }) // in case nothing reads or writes any more
	return true
}
