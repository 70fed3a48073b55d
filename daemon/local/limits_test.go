package local

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"thingd/daemon/queue"
)

// queueBackend puts messages in a real queue, so its limits apply.
type queueBackend struct{ q *queue.Queue }

func (b queueBackend) Enqueue(ctx context.Context, msgs []queue.Message) error {
	return b.q.Append(ctx, msgs...)
}
func (b queueBackend) Status() any { return b.q.Stats() }

func serve(t *testing.T, s *Server, wrap func(net.Listener) net.Listener) {
	t.Helper()
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		s.ln = wrap(s.ln)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

// TestPipelinedBigMessagesAccepted: 100 pipelined 60 KiB messages are each valid, so all
// of them are queued, although together they are more than one queue append takes.
func TestPipelinedBigMessagesAccepted(t *testing.T) {
	q, err := queue.Open(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	s := &Server{Path: filepath.Join(t.TempDir(), "s.sock"), Thing: func() string { return "pi" }, Backend: queueBackend{q}}
	serve(t, s, nil)
	reqs := make([]Request, 100)
	for i := range reqs {
		reqs[i] = Request{Verb: "PUB", QoS: 1, Topic: "dt/pi/big", Payload: []byte(strings.Repeat(string(rune('a'+i%26)), 60<<10))}
	}
	// Write everything before reading, so the server finds the whole pipeline buffered.
	c, err := net.Dial("unix", s.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		bw := bufio.NewWriterSize(c, 8<<20)
		for _, r := range reqs {
			WriteRequest(bw, r)
		}
		bw.Flush()
	}()
	br := bufio.NewReader(c)
	for i := range reqs {
		r, err := ReadResponse(br)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		if !r.OK {
			t.Fatalf("message %d refused: %s", i, r.Text)
		}
	}
	if st := q.Stats(); st.Accepted != 100 {
		t.Fatalf("queue accepted %d, want 100", st.Accepted)
	}
}

// TestDeclaredPayloadCostsWhatArrives: a client that declares 256 KiB and sends 10 bytes
// makes the server allocate about what arrived, not what was declared.
func TestDeclaredPayloadCostsWhatArrives(t *testing.T) {
	in := "PUB 1 262144 dt/pi/x\n0123456789"
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := ReadRequest(bufio.NewReaderSize(strings.NewReader(in), 64))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrProtocol) {
		t.Fatalf("cut payload: %v", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<10 {
		t.Fatalf("10 bytes received cost %d bytes of allocation", got)
	}
	// and a payload that does arrive is read whole, across the doublings
	want := strings.Repeat("0123456789abcdef", 10000)
	req, err := ReadRequest(bufio.NewReader(strings.NewReader(fmt.Sprintf("PUB 1 %d t\n%s", len(want), want))))
	if err != nil || string(req.Payload) != want {
		t.Fatalf("payload of %d bytes: %v, got %d bytes", len(want), err, len(req.Payload))
	}
}

// TestConnectionCap: connections beyond MaxConns are answered with a reason and closed;
// once one closes, a new client is served.
func TestConnectionCap(t *testing.T) {
	be := &fakeBackend{}
	s := &Server{Path: filepath.Join(t.TempDir(), "s.sock"), Backend: be, MaxConns: 8}
	serve(t, s, nil)
	var idle []net.Conn
	for range 8 {
		c, err := net.Dial("unix", s.Path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "PUB 1 262144 dt/pi/x\n") // declares a big payload, sends nothing
		idle = append(idle, c)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		n := len(s.conns)
		s.mu.Unlock()
		if n == 8 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections registered, want 8", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	c, err := net.Dial("unix", s.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	r, err := ReadResponse(bufio.NewReader(c))
	if err != nil || r.OK || !strings.Contains(r.Text, "too many connections") {
		t.Fatalf("ninth connection: %+v, %v", r, err)
	}
	idle[0].Close()
	for {
		c, err := Dial(s.Path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Status()
		c.Close()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection served after one closed: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// emfileListener fails its first Accepts as a process out of file descriptors does.
type emfileListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *emfileListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "unix", Err: syscall.EMFILE}
	}
	return l.Listener.Accept()
}

// TestAcceptSurvivesEMFILE: running out of descriptors for a moment does not stop the
// socket from serving.
func TestAcceptSurvivesEMFILE(t *testing.T) {
	s := &Server{Path: filepath.Join(t.TempDir(), "s.sock"), Backend: &fakeBackend{}}
	serve(t, s, func(ln net.Listener) net.Listener {
		l := &emfileListener{Listener: ln}
		l.fails.Store(5)
		return l
	})
	c, err := Dial(s.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	done := make(chan error, 1)
	go func() { _, err := c.Status(); done <- err }()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("status after EMFILE: %v", err)
		}
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the socket stopped serving after EMFILE")
	}
}
