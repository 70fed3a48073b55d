package clock

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
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
func saveState(path string, t time.Time) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save clock time: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("save clock time: %w; check that %s is writable by thingd", err, dir)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.WriteString(t.UTC().Format(time.RFC3339Nano) + "\n"); err != nil {
		return fmt.Errorf("save clock time to %s: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("save clock time to %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save clock time to %s: %w", f.Name(), err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("save clock time: %w", err)
	}
	return syncDir(dir)
}

// syncDir makes the rename itself durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("save clock time: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("save clock time: sync directory %s: %w", dir, err)
	}
	return nil
}
