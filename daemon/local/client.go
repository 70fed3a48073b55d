package local

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"sync/atomic"
)

// Client talks to a running daemon.
type Client struct {
	conn net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
}

// Dial connects to the daemon's socket; the error says what to check.
func Dial(path string) (*Client, error) {
	c, err := net.Dial("unix", path)
	if errors.Is(err, fs.ErrPermission) {
		return nil, fmt.Errorf("connect to thingd at %s: %w (add this user to group thingd: `sudo usermod -aG thingd $USER`, then log in again)", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to thingd at %s: %w (is the daemon running? `systemctl status thingd`; or pass --socket)", path, err)
	}
	return &Client{conn: c, br: bufio.NewReaderSize(c, 16<<10), bw: bufio.NewWriterSize(c, 64<<10)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Status asks for the daemon's status document.
func (c *Client) Status() (json.RawMessage, error) {
	return c.ask(func(w *bufio.Writer) error { return WriteRequest(w, Request{Verb: "STATUS"}) })
}

// ShadowGet asks the daemon for AWS's answer to a get of the thing's shadow name ("" =
// classic): the get/accepted or get/rejected document.
func (c *Client) ShadowGet(name string) (json.RawMessage, error) {
	return c.ask(func(w *bufio.Writer) error { return WriteRequest(w, Request{Verb: "SHADOWGET", Topic: name}) })
}

// ask sends one request that write puts on the wire and returns the JSON of its OK answer;
// an answer that is not OK is an error with the daemon's text.
func (c *Client) ask(write func(*bufio.Writer) error) (json.RawMessage, error) {
	if err := write(c.bw); err != nil {
		return nil, err
	}
	if err := c.bw.Flush(); err != nil {
		return nil, err
	}
	r, err := ReadResponse(c.br)
	if err != nil {
		return nil, err
	}
	if !r.OK {
		return nil, errors.New(r.Text)
	}
	return json.RawMessage(r.Text), nil
}

// Stream pipelines publishes: next yields requests until it returns ok=false (more
// reports whether next can yield again without blocking, so the client flushes only when
// it would otherwise wait); done is called with each response in request order. When next
// is exhausted the client half-closes the connection, the daemon answers what is left and
// closes its side, and Stream returns once every response arrived.
func (c *Client) Stream(ctx context.Context, next func() (req Request, ok, more bool, err error), done func(i int, r Response)) error {
	stop := context.AfterFunc(ctx, func() { c.conn.Close() })
	defer stop()

	var sent atomic.Int64
	werr := make(chan error, 1)
	go func() {
		werr <- c.write(next, &sent)
		if uc, ok := c.conn.(*net.UnixConn); ok {
			_ = uc.CloseWrite()
		}
	}()
	received := 0
	var rerr error
	for {
		r, err := ReadResponse(c.br)
		if err != nil {
			rerr = err
			break
		}
		done(received, r)
		received++
	}
	if err := <-werr; err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if int64(received) != sent.Load() {
		return fmt.Errorf("thingd answered %d of %d requests: %w", received, sent.Load(), rerr)
	}
	return nil
}

func (c *Client) write(next func() (Request, bool, bool, error), sent *atomic.Int64) error {
	for {
		req, ok, more, err := next()
		if err != nil {
			_ = c.bw.Flush()
			return err
		}
		if !ok {
			return c.bw.Flush()
		}
		if err := WriteRequest(c.bw, req); err != nil {
			return err
		}
		sent.Add(1)
		if !more {
			if err := c.bw.Flush(); err != nil {
				return err
			}
		}
	}
}
