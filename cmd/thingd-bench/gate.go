package main

import (
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"thingd/internal/testbed"
)

// gate is a TCP forwarder on a fixed loopback port that the lab opens and cuts: closed, the
// port refuses connections and every forwarded connection is torn down, like a network
// that went away.
type gate struct {
	port   int
	addr   string
	target string
	// delay holds every chunk of bytes this long in each direction: with it, a loopback
	// connection has the round trip of a real network and messages are in flight when a
	// fault strikes.
	delay time.Duration

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newGate(target string) (*gate, error) {
	port, err := testbed.LoopbackTCPPort()
	if err != nil {
		return nil, err
	}
	return &gate{port: port, addr: fmt.Sprintf("127.0.0.1:%d", port), target: target, conns: map[net.Conn]struct{}{}}, nil
}

// open starts forwarding to the target.
func (g *gate) open() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", g.addr)
	if err != nil {
		return fmt.Errorf("gate on %s: %w", g.addr, err)
	}
	g.ln = ln
	g.wg.Add(1)
	go g.accept(ln)
	return nil
}

func (g *gate) accept(ln net.Listener) {
	defer g.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", g.target)
		if err != nil {
			c.Close()
			continue
		}
		g.mu.Lock()
		if g.ln != ln { // cut while dialling
			g.mu.Unlock()
			c.Close()
			u.Close()
			return
		}
		g.conns[c], g.conns[u] = struct{}{}, struct{}{}
		g.wg.Add(2)
		g.mu.Unlock()
		go g.pipe(u, c)
		go g.pipe(c, u)
	}
}

func (g *gate) pipe(dst, src net.Conn) {
	defer g.wg.Done()
	if g.delay > 0 {
		g.delayedCopy(dst, src)
	} else {
		_, _ = io.Copy(dst, src)
	}
	dst.Close()
	src.Close()
	g.mu.Lock()
	delete(g.conns, dst)
	delete(g.conns, src)
	g.mu.Unlock()
}

// cut stops listening and closes every forwarded connection; it returns once all the
// forwarding goroutines have ended.
func (g *gate) cut() {
	g.mu.Lock()
	if g.ln != nil {
		g.ln.Close()
		g.ln = nil
	}
	for c := range g.conns {
		c.Close()
	}
	g.mu.Unlock()
	g.wg.Wait()
}

// delayedCopy copies src to dst, each chunk delivered g.delay after it was read.
func (g *gate) delayedCopy(dst, src net.Conn) {
	type chunk struct {
		b   []byte
		due time.Time
	}
	q := make(chan chunk, 4096)
	written := make(chan struct{})
	go func() {
		defer close(written)
		failed := false
		for c := range q {
			if failed {
				continue // keep draining so the reader never blocks
			}
			time.Sleep(time.Until(c.due))
			if _, err := dst.Write(c.b); err != nil {
				failed = true
				src.Close()
			}
		}
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			q <- chunk{b: append([]byte(nil), buf[:n]...), due: time.Now().Add(g.delay)}
		}
		if err != nil {
			break
		}
	}
	close(q)
	<-written
}
