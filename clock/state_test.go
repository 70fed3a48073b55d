package clock

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
)

// TestFloor: the floor is the newest of the saved time and the build time; a missing or
// corrupt state file falls back to the build time (and a corrupt one is logged).
func TestFloor(t *testing.T) {
	build := epoch.Add(-30 * 24 * time.Hour)
	saved := epoch.Add(-time.Hour)
	tests := []struct {
		name    string
		content *string
		want    time.Time
		log     string
	}{
		{"missing: first boot", nil, build, "first boot"},
		{"saved newer than build", ptr(saved.Format(time.RFC3339Nano) + "\n"), saved, ""},
		{"saved older than build", ptr(build.Add(-time.Hour).Format(time.RFC3339Nano)), build, ""},
		{"corrupt", ptr("\x00\x00garbage"), build, "ignoring the saved clock time"},
		{"empty", ptr(""), build, "ignoring the saved clock time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "clock")
			if tt.content != nil {
				if err := os.WriteFile(path, []byte(*tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c, logs := testClock(t, newWorld(0), func(o *Options) { o.StateFile = path; o.BuildTime = build })
			assertTime(t, "Floor", c.Floor(), tt.want)
			if tt.log != "" && logs.FilterMessageSnippet(tt.log).Len() != 1 {
				t.Errorf("want one log line with %q, got %v", tt.log, logs.All())
			}
		})
	}
}

func ptr(s string) *string { return &s }

// TestNowBeforeSync: before the first sync Now is the system clock, but never before the
// floor, and from the floor it still moves forward with the monotonic clock.
func TestNowBeforeSync(t *testing.T) {
	w := newWorld(-57 * 365 * 24 * time.Hour) // a Pi booting at 1970
	c, _ := testClock(t, w, func(o *Options) { o.BuildTime = epoch.Add(-time.Hour) })
	assertTime(t, "Now at 1970", c.Now(), epoch.Add(-time.Hour))
	w.advance(10 * time.Second)
	assertTime(t, "Now 10s later", c.Now(), epoch.Add(-time.Hour+10*time.Second))
	w.stepWall(0)
	assertTime(t, "Now with a right wall", c.Now(), w.trueNow())
	if st := c.Status(); st.Synced || st.Offset != 0 {
		t.Errorf("status before sync = %+v", st)
	}
}

// TestSaveIsAtomic: the saved file holds the trusted time, no temporary file is left, and it
// becomes the next Clock's floor. Untrusted time is never saved.
func TestSaveIsAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "clock")
	w := newWorld(-time.Hour)
	w.addServer("ntp:123", &fakeServer{})
	c, _ := testClock(t, w, func(o *Options) { o.StateFile = path })

	c.save()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("untrusted time was saved (stat: %v)", err)
	}
	mustSync(t, c)
	w.advance(time.Minute)
	c.save()
	w.advance(time.Minute)
	c.save()

	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "clock" {
		t.Errorf("directory holds %v, want only the state file", entries)
	}
	got, err := loadState(path)
	if err != nil {
		t.Fatal(err)
	}
	assertTime(t, "saved time", got, w.trueNow())
	c2, _ := testClock(t, w, func(o *Options) { o.StateFile = path })
	assertTime(t, "next floor", c2.Floor(), w.trueNow())
}

// TestSaveFailureLoggedOnce: a state file that cannot be written is a warning once, not at
// every save.
func TestSaveFailureLoggedOnce(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	w := newWorld(0)
	w.addServer("ntp:123", &fakeServer{})
	c, logs := testClock(t, w, func(o *Options) { o.StateFile = filepath.Join(blocker, "clock") })
	mustSync(t, c)
	for range 3 {
		c.save()
	}
	if n := logs.FilterMessageSnippet("could not save").FilterLevelExact(zapcore.WarnLevel).Len(); n != 1 {
		t.Errorf("got %d warnings, want 1: %v", n, logs.All())
	}
}

// TestRunSavesAtShutdown: Run returns nil when ctx ends and leaves the trusted time on disk.
func TestRunSavesAtShutdown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clock")
	w := newWorld(-time.Hour)
	w.addServer("ntp:123", &fakeServer{skew: 7 * time.Millisecond})
	c, _ := testClock(t, w, func(o *Options) { o.StateFile = path })
	c.saveTimer = func(time.Duration) <-chan time.Time { return nil }
	ctx, cancel := context.WithCancel(context.Background())
	c.syncTimer = func(time.Duration) <-chan time.Time {
		w.advance(time.Hour)
		cancel()
		return nil
	}
	if err := c.Run(ctx); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	got, err := loadState(path)
	if err != nil {
		t.Fatal(err)
	}
	assertTime(t, "saved at shutdown", got, w.trueNow().Add(7*time.Millisecond))
}
