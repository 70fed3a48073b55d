package local

import (
	"bufio"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// dlBackend is a Backend that also keeps dead letters.
type dlBackend struct {
	fakeBackend
	calls []string
}

func (b *dlBackend) DeadLetters(_ context.Context, op string, seqs []uint64) (any, error) {
	b.calls = append(b.calls, op)
	if op == "retry" && len(seqs) == 1 && seqs[0] == 9 {
		return nil, errors.New("no dead letter with seq 9")
	}
	return []map[string]any{{"op": op, "seqs": seqs}}, nil
}

func TestReadDeadLetterRequest(t *testing.T) {
	for _, tc := range []struct {
		line string
		ok   bool
	}{
		{"DEADLETTER list\n", true},
		{"DEADLETTER retry 51\n", true},
		{"DEADLETTER retry all\n", true},
		{"DEADLETTER discard 7\n", true},
		{"DEADLETTER list 3\n", false},
		{"DEADLETTER retry\n", false},
		{"DEADLETTER retry x\n", false},
		{"DEADLETTER burn 1\n", false},
	} {
		req, err := ReadRequest(bufio.NewReader(strings.NewReader(tc.line)))
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v, want ok=%v", tc.line, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrProtocol) {
			t.Errorf("%q: %v is not ErrProtocol", tc.line, err)
		}
		if err == nil && req.Verb != "DEADLETTER" {
			t.Errorf("%q: verb %q", tc.line, req.Verb)
		}
	}
}

// The server hands DEADLETTER to a Backend that keeps dead letters and returns its answer
// as JSON; an error is an ERR line; a Backend without dead letters says so.
func TestDeadLetterThroughTheSocket(t *testing.T) {
	be := &dlBackend{}
	s := &Server{Path: filepath.Join(t.TempDir(), "thingd.sock"), Backend: be}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	c, err := Dial(s.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw, err := c.DeadLetters("retry", "all")
	if err != nil || !strings.Contains(string(raw), `"op":"retry"`) || !strings.Contains(string(raw), `"seqs":null`) {
		t.Fatalf("retry all: %s, %v", raw, err)
	}
	raw, err = c.DeadLetters("discard", "4")
	if err != nil || !strings.Contains(string(raw), `"seqs":[4]`) {
		t.Fatalf("discard 4: %s, %v", raw, err)
	}
	if _, err := c.DeadLetters("retry", "9"); err == nil || !strings.Contains(err.Error(), "no dead letter with seq 9") {
		t.Fatalf("retry 9: %v", err)
	}

}

func TestDeadLetterWithoutStore(t *testing.T) {
	s, _ := startServer(t)
	c, err := Dial(s.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.DeadLetters("list", ""); err == nil || !strings.Contains(err.Error(), "no dead letters") {
		t.Fatalf("list on a backend without dead letters: %v", err)
	}
}
