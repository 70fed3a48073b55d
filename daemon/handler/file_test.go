package handler

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func newFile(t *testing.T, path string) *File {
	t.Helper()
	f, err := NewFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// assertOnly checks that dir holds exactly the named entries: no temporary file left behind.
func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("%s holds %v, want exactly %v", dir, got, names)
	}
}

// TestFileReplace: the file gets the payload, mode 0640 whatever it was before and whatever the
// umask, and no temporary file remains; a missing file is created.
func TestFileReplace(t *testing.T) {
	for _, existing := range []bool{true, false} {
		t.Run(map[bool]string{true: "existing", false: "new"}[existing], func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "setpoint.json")
			if existing {
				if err := os.WriteFile(path, []byte(`{"old": "content that is longer than the new one"}`), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			f := newFile(t, path)
			payload := []byte(`{"temp": 21.5}`)
			if err := f.Accept(context.Background(), "cmd/raspi2-test/setpoint", payload); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, path); got != string(payload) {
				t.Errorf("content = %q, want %q", got, payload)
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o640 {
				t.Errorf("mode = %v, want 0640", st.Mode().Perm())
			}
			assertOnly(t, dir, "setpoint.json")
		})
	}
}

// TestFileAtomicUnderReads: a reader polling the file while it is replaced over and over only
// ever sees one complete payload, never an empty, short or mixed file.
func TestFileAtomicUnderReads(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	a, b := bytes.Repeat([]byte("a"), 256<<10), bytes.Repeat([]byte("b"), 256<<10)
	f := newFile(t, path)
	if err := f.Handle(context.Background(), "t", a); err != nil {
		t.Fatal(err)
	}

	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	var reads, torn int
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			got, err := os.ReadFile(path)
			reads++
			if err != nil || !(bytes.Equal(got, a) || bytes.Equal(got, b)) {
				torn++
			}
		}
	}()
	for i := 0; i < 40; i++ {
		if err := f.Handle(context.Background(), "t", [][]byte{a, b}[i%2]); err != nil {
			t.Error(err)
			break
		}
	}
	close(done)
	wg.Wait()
	if torn > 0 {
		t.Errorf("%d of %d reads saw a missing or partial file", torn, reads)
	}
	assertOnly(t, dir, "state")
}

// TestFileFailureLeavesNoTemp: when the rename fails, the error names the path and the
// temporary file is removed.
func TestFileFailureLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	f := newFile(t, path)
	// The target turns into a non-empty directory after the handler was set up.
	if err := os.MkdirAll(filepath.Join(path, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := f.Handle(context.Background(), "t", []byte("x"))
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Handle = %v, want an error naming %s", err, path)
	}
	assertOnly(t, dir, "state")
}

func TestFileClosed(t *testing.T) {
	f := newFile(t, filepath.Join(t.TempDir(), "state"))
	if err := f.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.Accept(context.Background(), "t", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Accept after Close = %v, want ErrClosed", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	g := newFile(t, filepath.Join(t.TempDir(), "state"))
	if err := g.Accept(ctx, "t", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Accept with an ended context = %v, want context.Canceled", err)
	}
}

func TestNewFileRejects(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "plain")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, path, want string }{
		{"relative", "state.json", "relative"},
		{"missing directory", filepath.Join(dir, "nope", "state"), filepath.Join(dir, "nope")},
		{"parent is a file", filepath.Join(notDir, "state"), notDir},
		{"target is a directory", dir, "is a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewFile(tc.path, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewFile(%q) = %v, want an error containing %q", tc.path, err, tc.want)
			}
		})
	}
}
