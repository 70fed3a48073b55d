package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// notifyListener plays systemd's side of sd_notify: a unixgram socket whose datagrams are
// kept with their arrival time.
type notifyListener struct {
	path string
	conn *net.UnixConn
	done chan struct{}
	once sync.Once

	mu   sync.Mutex
	msgs []notifyMsg
	more chan struct{}
}

type notifyMsg struct {
	text string
	at   time.Time
}

func listenNotify(path string) (*notifyListener, error) {
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("notify socket %s: %w", path, err)
	}
	n := &notifyListener{path: path, conn: conn, done: make(chan struct{}), more: make(chan struct{}, 1)}
	go n.read()
	return n, nil
}

func (n *notifyListener) read() {
	defer close(n.done)
	buf := make([]byte, 4096)
	for {
		k, err := n.conn.Read(buf)
		if err != nil {
			return
		}
		at := time.Now()
		n.mu.Lock()
		n.msgs = append(n.msgs, notifyMsg{text: string(buf[:k]), at: at})
		n.mu.Unlock()
		select {
		case n.more <- struct{}{}:
		default:
		}
	}
}

// waitFor returns the arrival time of the first datagram containing want.
func (n *notifyListener) waitFor(ctx context.Context, want string, timeout time.Duration, dead <-chan struct{}) (time.Time, error) {
	deadline := time.After(timeout)
	for {
		n.mu.Lock()
		for _, m := range n.msgs {
			if strings.Contains(m.text, want) {
				n.mu.Unlock()
				return m.at, nil
			}
		}
		n.mu.Unlock()
		select {
		case <-n.more:
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-dead:
			return time.Time{}, fmt.Errorf("thingd exited before it sent %s", want)
		case <-deadline:
			return time.Time{}, fmt.Errorf("no %s from thingd within %v", want, timeout)
		}
	}
}

func (n *notifyListener) close() {
	n.once.Do(func() { n.conn.Close() })
	<-n.done
}
