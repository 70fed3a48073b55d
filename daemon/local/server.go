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

	"go.uber.org/zap"

	"thingd/daemon/limits"
)

// maxBatch bounds how many pipelined requests share one durable append (one fsync).
const maxBatch = 1024

// Message is a publish accepted at the door.
type Message struct {
	Topic   string
	QoS     int
	Payload []byte
}

// Backend is what the server needs from the daemon.
type Backend interface {
	// Enqueue returns nil only once every message is on stable storage.
	Enqueue(ctx context.Context, msgs []Message) error
	// Status is encoded as JSON for STATUS requests.
	Status() any
}

// Server accepts producers on a Unix socket.
type Server struct {
	Path    string
	Thing   func() string // the thing name, which may change on reload; for $aws/things/{thing}/shadow
	Backend Backend
	Logger  *zap.Logger

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
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept on %s: %w", s.Path, err)
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
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
	for {
		req, err := ReadRequest(br)
		if err != nil {
			return batch, err
		}
		batch = append(batch, req)
		if br.Buffered() == 0 || len(batch) >= maxBatch {
			return batch, nil
		}
	}
}

func (s *Server) process(ctx context.Context, batch []Request) []Response {
	resps := make([]Response, len(batch))
	var msgs []Message
	var idx []int
	thing := ""
	if s.Thing != nil {
		thing = s.Thing()
	}
	for i, req := range batch {
		if req.Verb == "STATUS" {
			continue
		}
		req.Topic = strings.ReplaceAll(req.Topic, "{thing}", thing)
		if err := check(req, thing); err != nil {
			s.refused.Add(1)
			resps[i] = Response{Text: err.Error()}
			continue
		}
		msgs = append(msgs, Message{Topic: req.Topic, QoS: req.QoS, Payload: req.Payload})
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
