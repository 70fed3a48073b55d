package local

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"thingd/daemon/queue"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fakeBackend struct {
	mu      sync.Mutex
	msgs    []queue.Message
	appends int
}

func (f *fakeBackend) Enqueue(_ context.Context, msgs []queue.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, msgs...)
	f.appends++
	return nil
}

func (f *fakeBackend) Status() any { return map[string]int{"depth": len(f.msgs)} }

func startServer(t *testing.T) (*Server, *fakeBackend) {
	t.Helper()
	be := &fakeBackend{}
	s := &Server{Path: filepath.Join(t.TempDir(), "run", "thingd.sock"), Thing: func() string { return "pi" }, Backend: be}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
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
	return s, be
}

func stream(t *testing.T, path string, reqs []Request) []Response {
	t.Helper()
	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	i := 0
	var got []Response
	err = c.Stream(context.Background(), func() (Request, bool, bool, error) {
		if i == len(reqs) {
			return Request{}, false, false, nil
		}
		i++
		return reqs[i-1], true, i < len(reqs), nil
	}, func(_ int, r Response) { got = append(got, r) })
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestRefusedAtTheDoor: each AWS IoT limit is refused with its reason, in order, while
// the valid messages around them are queued untouched.
func TestRefusedAtTheDoor(t *testing.T) {
	s, be := startServer(t)
	reqs := []Request{
		{Verb: "PUB", QoS: 1, Topic: "dt/pi/a", Payload: []byte("first")},
		{Verb: "PUB", QoS: 1, Topic: "dt/pi/big", Payload: make([]byte, 128<<10+1)},
		{Verb: "PUB", QoS: 1, Topic: "", Payload: []byte("x")},
		{Verb: "PUB", QoS: 1, Topic: strings.Repeat("t", 257), Payload: []byte("x")},
		{Verb: "PUB", QoS: 1, Topic: "a/b/c/d/e/f/g/h/i", Payload: []byte("x")},
		{Verb: "PUB", QoS: 1, Topic: "dt/+/x", Payload: []byte("x")},
		{Verb: "PUB", QoS: 1, Topic: "dt/#", Payload: []byte("x")},
		{Verb: "PUB", QoS: 1, Topic: "$aws/things/other/shadow/update", Payload: []byte("x")},
		{Verb: "PUB", QoS: 2, Topic: "dt/pi/q2", Payload: []byte("x")},
		{Verb: "PUB", QoS: 0, Topic: "$aws/things/pi/shadow/update", Payload: []byte("{}")},
		{Verb: "PUB", QoS: 1, Topic: "dt/{thing}/a", Payload: []byte("last")},
	}
	want := []string{"", "128 KiB", "empty", "at most 256", "slashes", "wildcard", "wildcard", "reserved", "qos 2", "", ""}
	got := stream(t, s.Path, reqs)
	if len(got) != len(want) {
		t.Fatalf("%d responses, want %d", len(got), len(want))
	}
	for i, w := range want {
		if (w == "") != got[i].OK || !strings.Contains(got[i].Text, w) {
			t.Errorf("request %d: got %+v, want %q", i, got[i], w)
		}
	}
	if len(be.msgs) != 3 || string(be.msgs[0].Payload) != "first" || string(be.msgs[2].Payload) != "last" || be.msgs[2].Topic != "dt/pi/a" {
		t.Errorf("queued %d messages: %+v", len(be.msgs), be.msgs)
	}
	if c := s.Counters(); c.Accepted != 3 || c.Refused != 8 {
		t.Errorf("counters %+v", c)
	}
}

// TestPipelinedPublishesShareAppends: a stream of publishes is queued in batches, the
// precondition for group commit (one fsync per batch, not per message).
func TestPipelinedPublishesShareAppends(t *testing.T) {
	s, be := startServer(t)
	reqs := make([]Request, 5000)
	for i := range reqs {
		reqs[i] = Request{Verb: "PUB", QoS: 1, Topic: "dt/pi/n", Payload: []byte{byte(i)}}
	}
	got := stream(t, s.Path, reqs)
	if len(got) != 5000 || len(be.msgs) != 5000 {
		t.Fatalf("got %d responses, %d queued", len(got), len(be.msgs))
	}
	for i, m := range be.msgs {
		if m.Payload[0] != byte(i) {
			t.Fatalf("message %d out of order", i)
		}
	}
	if be.appends >= 5000 {
		t.Errorf("%d appends for 5000 messages: no batching", be.appends)
	}
}

func TestStatusAndSocketMode(t *testing.T) {
	s, _ := startServer(t)
	fi, err := os.Stat(s.Path)
	if err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket mode %v, %v", fi.Mode(), err)
	}
	c, err := Dial(s.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, err := c.Status()
	if err != nil || string(st) != `{"depth":0}` {
		t.Errorf("status %s, %v", st, err)
	}
}

// TestMalformedRequestIsAnsweredAndClosed: garbage gets a reason, then the connection
// closes because the stream cannot be framed any more.
func TestMalformedRequestIsAnsweredAndClosed(t *testing.T) {
	s, be := startServer(t)
	for _, raw := range []string{"HELLO\n", "PUB 1 x dt/a\n", "PUB 1 999999999 dt/a\n", "PUB 1 10 dt/a\nshort", strings.Repeat("A", 5000)} {
		c, err := net.Dial("unix", s.Path)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(raw))
		c.(*net.UnixConn).CloseWrite()
		resp, err := ReadResponse(bufio.NewReader(c))
		if err != nil || resp.OK || !strings.Contains(resp.Text, "protocol error") {
			t.Errorf("%.20q: got %+v, %v", raw, resp, err)
		}
		c.Close()
	}
	if len(be.msgs) != 0 {
		t.Errorf("malformed requests queued %d messages", len(be.msgs))
	}
}

func TestDialNamesThePath(t *testing.T) {
	p := filepath.Join(t.TempDir(), "none.sock")
	_, err := Dial(p)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "systemctl status thingd") {
		t.Errorf("got %v", err)
	}
}

// FuzzReadRequest: the parser never panics, never allocates past its limits, and what
// it accepts round-trips through WriteRequest.
func FuzzReadRequest(f *testing.F) {
	f.Add([]byte("PUB 1 5 dt/pi/x\nhello"))
	f.Add([]byte("STATUS\n"))
	f.Add([]byte("PUB 0 0 a b c\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		req, err := ReadRequest(bufio.NewReader(bytes.NewReader(in)))
		if err != nil {
			return
		}
		if len(req.Payload) > maxPayload || len(req.Topic) > maxLine {
			t.Fatalf("limits exceeded: %d %d", len(req.Payload), len(req.Topic))
		}
		var buf bytes.Buffer
		w := bufio.NewWriter(&buf)
		if err := WriteRequest(w, req); err != nil {
			return // a topic with a line break cannot be written back: fine
		}
		w.Flush()
		again, err := ReadRequest(bufio.NewReader(&buf))
		if err != nil || again.Topic != req.Topic || !bytes.Equal(again.Payload, req.Payload) || again.QoS != req.QoS {
			t.Fatalf("round trip: %+v vs %+v (%v)", req, again, err)
		}
	})
}
