package clock

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"thingd/internal/atomicfile"
)

// The state file holds one RFC 3339 time and a newline, so a person can read and fix it.

func loadState(path string) (time.Time, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}, fmt.Errorf("read saved clock time: %w", err)
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b)))
	if err != nil {
		return time.Time{}, fmt.Errorf("saved clock time in %s is not an RFC 3339 time (%w); it is rewritten after the next NTP sync, or delete the file", path, err)
	}
	return t.UTC(), nil
}

// saveState replaces path atomically: a crash leaves either the old or the new time, never a torn file.
func saveState(path string, t time.Time) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save clock time: %w", err)
	}
	if err := atomicfile.Write(path, []byte(t.UTC().Format(time.RFC3339Nano)+"\n"), 0o644); err != nil {
		return fmt.Errorf("save clock time: %w", err)
	}
	return nil
}
