package local

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"thingd/daemon/limits"
	"thingd/daemon/queue"
)

const (
	// maxBatch and maxBatchBytes bound how many pipelined requests share one durable
	// append (one fsync): by count, and by payload bytes so that a batch stays well below
	// what the queue takes in one append and below what a connection may hold in memory.
	maxBatch      = 1024
	maxBatchBytes = 1 << 20
	// DefaultMaxConns caps concurrent producer connections; one more is answered
	// "ERR too many connections" and closed. With the per-connection buffers and the batch
	// bound it keeps the door's memory below about 100 MiB whatever clients do.
	DefaultMaxConns = 64
	// Accept errors such as EMFILE are retried with a backoff between these bounds.
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// Backend is what the server needs from the daemon.
type Backend interface {
	// Enqueue returns nil only once every message is on stable storage. The messages'
	// Time is zero: the queue stamps them with its (trusted) clock.
	Enqueue(ctx context.Context, msgs []queue.Message) error
	// Status is encoded as JSON for STATUS requests.
	Status() any
}

// ShadowBackend is what a Backend also offers when it serves SHADOWGET.
type ShadowBackend interface {
	// ShadowGet returns AWS's answer to a get of the thing's shadow name ("" = classic).
	ShadowGet(ctx context.Context, name string) ([]byte, error)
}

// shadowGetTimeout bounds the wait for the shadow service's answer.
const shadowGetTimeout = 15 * time.Second

// Server accepts producers on a Unix socket.
type Server struct {
	Path    string
	Thing   func() string // the thing name, which may change on reload; for $aws/things/{thing}/shadow
	Backend Backend
	Logger  *zap.Logger
	// MaxConns caps concurrent connections; 0 means DefaultMaxConns.
	MaxConns int

	ln       net.Listener
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	accepted atomic.Uint64
	refused  atomic.Uint64
}

// Counters are what the door saw since start.
type Counters struct {
	Accepted uint64 `json:"accepted"`
	Refused  uint64 `json:"refused"`
}

// Counters returns the door's counters.
func (s *Server) Counters() Counters {
	return Counters{Accepted: s.accepted.Load(), Refused: s.refused.Load()}
}

// Listen creates the socket (mode 0660, group thingd when it exists) so that READY=1
// can be sent as soon as producers are able to connect.
func (s *Server) Listen() error {
	if s.Logger == nil {
		s.Logger = zap.NewNop()
	}
	if err := os.MkdirAll(filepath.Dir(s.Path), 0o755); err != nil {
		return fmt.Errorf("create the directory of local.socket %s: %w", s.Path, err)
	}
	if fi, err := os.Lstat(s.Path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		// A socket left behind by a crash; a live daemon would hold the unit's lock first.
		_ = os.Remove(s.Path)
	}
	ln, err := net.Listen("unix", s.Path)
	if err != nil {
		return fmt.Errorf("listen on local.socket %s: %w", s.Path, err)
	}
	if err := os.Chmod(s.Path, 0o660); err != nil {
		ln.Close()
		return fmt.Errorf("chmod local.socket %s: %w", s.Path, err)
	}
	if g, err := user.LookupGroup("thingd"); err == nil {
		if gid, err := strconv.Atoi(g.Gid); err == nil {
			_ = os.Chown(s.Path, -1, gid)
		}
	}
	s.ln = ln
	s.conns = map[net.Conn]struct{}{}
	return nil
}

// Serve accepts connections until ctx ends, then closes them and waits for their handlers.
func (s *Server) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		s.ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	})
	defer stop()
	defer s.wg.Wait()
	maxConns := s.MaxConns
	if maxConns <= 0 {
		maxConns = DefaultMaxConns
	}
	backoff := time.Duration(0)
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !retryableAccept(err) {
				return fmt.Errorf("accept on %s: %w", s.Path, err)
			}
			// Out of file descriptors or memory for a moment: the socket keeps serving
			// once some are freed, instead of going deaf until a restart.
			backoff = min(max(2*backoff, acceptBackoffMin), acceptBackoffMax)
			if backoff == acceptBackoffMax || backoff == acceptBackoffMin {
				s.Logger.Warn("local socket cannot accept a connection; retrying", zap.String("socket", s.Path),
					zap.Duration("retry_in", backoff), zap.Error(err))
			}
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		backoff = 0
		s.mu.Lock()
		full := len(s.conns) >= maxConns
		if !full {
			s.conns[c] = struct{}{}
		}
		s.mu.Unlock()
		if full {
			s.refuseConn(c, maxConns)
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(ctx, c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

// refuseConn tells a client over the connection cap why, without reading from it.
func (s *Server) refuseConn(c net.Conn, maxConns int) {
	s.refused.Add(1)
	s.Logger.Warn("local socket: too many connections, refusing one", zap.Int("max_conns", maxConns))
	_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = fmt.Fprintf(c, "ERR too many connections (%d); close idle ones or try again later\n", maxConns)
	c.Close()
}

// retryableAccept reports accept errors that pass: no file descriptors or buffers now.
func retryableAccept(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) ||
		errors.Is(err, syscall.ECONNABORTED)
}

func (s *Server) handle(ctx context.Context, c net.Conn) {
	br := bufio.NewReaderSize(c, 64<<10)
	bw := bufio.NewWriterSize(c, 16<<10)
	for {
		batch, perr := readBatch(br)
		resps := s.process(ctx, batch)
		if perr != nil && !errors.Is(perr, io.EOF) && !errors.Is(perr, net.ErrClosed) {
			resps = append(resps, Response{Text: perr.Error()})
			s.Logger.Warn("local client sent a malformed request", zap.Error(perr))
		}
		for _, r := range resps {
			if err := writeResponse(bw, r); err != nil {
				return
			}
		}
		if err := bw.Flush(); err != nil || perr != nil {
			return
		}
	}
}

// readBatch reads one request, then whatever further requests the client has already
// sent, so that a stream of publishes shares one fsync.
func readBatch(br *bufio.Reader) ([]Request, error) {
	var batch []Request
	size := 0
	for {
		req, err := ReadRequest(br)
		if err != nil {
			return batch, err
		}
		batch = append(batch, req)
		size += len(req.Topic) + len(req.Payload)
		if br.Buffered() == 0 || len(batch) >= maxBatch || size >= maxBatchBytes {
			return batch, nil
		}
	}
}

func (s *Server) process(ctx context.Context, batch []Request) []Response {
	resps := make([]Response, len(batch))
	var msgs []queue.Message
	var idx []int
	thing := ""
	if s.Thing != nil {
		thing = s.Thing()
	}
	for i, req := range batch {
		if req.Verb == "STATUS" || req.Verb == "DEADLETTER" || req.Verb == "SHADOWGET" {
			continue
		}
		req.Topic = strings.ReplaceAll(req.Topic, "{thing}", thing)
		if err := check(req, thing); err != nil {
			s.refused.Add(1)
			resps[i] = Response{Text: err.Error()}
			continue
		}
		msgs = append(msgs, queue.Message{Topic: req.Topic, QoS: byte(req.QoS), Payload: req.Payload})
		idx = append(idx, i)
	}
	if len(msgs) > 0 {
		err := s.Backend.Enqueue(ctx, msgs)
		for _, i := range idx {
			if err != nil {
				resps[i] = Response{Text: "not queued: " + err.Error()}
			} else {
				resps[i] = Response{OK: true}
			}
		}
		if err == nil {
			s.accepted.Add(uint64(len(msgs)))
		} else {
			s.Logger.Error("queue refused messages from a local producer", zap.Int("messages", len(msgs)), zap.Error(err))
		}
	}
	// STATUS is answered after the publishes before it, so it reflects them.
	for i, req := range batch {
		if req.Verb == "DEADLETTER" {
			resps[i] = s.deadLetter(ctx, req)
		} else if req.Verb == "SHADOWGET" {
			resps[i] = s.shadowGet(ctx, req.Topic)
		}
		if req.Verb == "STATUS" {
			b, err := json.Marshal(s.Backend.Status())
			if err != nil {
				resps[i] = Response{Text: err.Error()}
			} else {
				resps[i] = Response{OK: true, Text: string(b)}
			}
		}
	}
	return resps
}

// check applies AWS IoT's limits at the door, so a producer learns the reason at once.
func check(req Request, thing string) error {
	if err := limits.CheckQoS(req.QoS); err != nil {
		return err
	}
	if err := limits.CheckPublishTopic(req.Topic, thing); err != nil {
		return err
	}
	return limits.CheckPayload(len(req.Payload))
}

func (s *Server) shadowGet(ctx context.Context, name string) Response {
	sb, ok := s.Backend.(ShadowBackend)
	if !ok {
		return Response{Text: "this thingd does not serve shadow requests"}
	}
	ctx, cancel := context.WithTimeout(ctx, shadowGetTimeout)
	defer cancel()
	doc, err := sb.ShadowGet(ctx, name)
	if err != nil {
		return Response{Text: err.Error()}
	}
	return Response{OK: true, Text: string(doc)}
}
