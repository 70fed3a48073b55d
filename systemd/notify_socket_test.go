package systemd

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

// waitFor bounds every wait on the socket; it is a deadlock guard, not a
// timing assertion.
const waitFor = 10 * time.Second

// notifySocket is a stand-in for systemd's end of $NOTIFY_SOCKET.
type notifySocket struct {
	path string
	msgs chan string
}

// listenNotify binds a unixgram socket in a temp dir and points
// $NOTIFY_SOCKET at it. Datagrams are read continuously because a full
// receive queue would block the sender.
func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen on %s: %v", path, err)
	}
	t.Setenv("NOTIFY_SOCKET", path)
	s := &notifySocket{path: path, msgs: make(chan string)}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			select {
			case s.msgs <- string(buf[:n]):
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		conn.Close()
		<-done
	})
	return s
}

// next returns the next datagram, failing the test if none comes.
func (s *notifySocket) next(t *testing.T) string {
	t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-time.After(waitFor):
		t.Fatalf("no notification on %s within %v", s.path, waitFor)
		return ""
	}
}

// expect reads the next datagrams and compares them in order.
func (s *notifySocket) expect(t *testing.T, want ...string) {
	t.Helper()
	for i, w := range want {
		if got := s.next(t); got != w {
			t.Fatalf("notification %d = %q, want %q", i, got, w)
		}
	}
}
