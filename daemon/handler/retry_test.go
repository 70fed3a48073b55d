package handler

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A file handler whose directory appears later: messages are refused with the reason until
// then (never taken and dropped), and the first message after the directory exists is written.
func TestRetryBuildsOnceItCan(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "later")
	path := filepath.Join(dir, "cmd.json")
	now := time.Unix(1_800_000_000, 0)
	builds := 0
	r := NewRetry(func() (Handler, error) { builds++; return NewFile(path, nil) }, 10*time.Second)
	r.now, r.tried = func() time.Time { return now }, now
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Err() = %v, want the missing directory %s named", err, dir)
	}
	ctx := context.Background()
	if err := r.Accept(ctx, "cmd/pi", []byte("1")); err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Accept before the directory exists = %v", err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Within `every` of the last build no new one is tried, however many messages come.
	for range 5 {
		if err := r.Accept(ctx, "cmd/pi", []byte("2")); err == nil {
			t.Fatal("Accept built again within the retry interval")
		}
	}
	if builds != 1 {
		t.Fatalf("%d builds, want 1", builds)
	}
	now = now.Add(10 * time.Second)
	if err := r.Accept(ctx, "cmd/pi", []byte("3")); err != nil {
		t.Fatalf("Accept once the directory exists: %v", err)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "3" {
		t.Fatalf("file holds %q, %v; want the accepted message", got, err)
	}
	if r.Err() != nil || r.Try() != nil {
		t.Fatalf("still reports %v after a good build", r.Err())
	}
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Accept(ctx, "cmd/pi", []byte("4")); err != ErrClosed {
		t.Fatalf("Accept after Close = %v, want ErrClosed", err)
	}
}

// Try builds at once, without waiting for the interval: it is the minute loop's retry.
func TestRetryTry(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "later")
	r := NewRetry(func() (Handler, error) { return NewFile(filepath.Join(dir, "f"), nil) }, time.Hour)
	if r.Try() == nil {
		t.Fatal("Try succeeded without the directory")
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := r.Try(); err != nil {
		t.Fatalf("Try once the directory exists: %v", err)
	}
	_ = r.Close(context.Background())
}
