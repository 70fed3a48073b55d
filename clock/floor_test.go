package clock

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeFloor saves t as the state file's last good time.
func writeFloor(t *testing.T, at time.Time) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "clock")
	if err := os.WriteFile(path, []byte(at.Format(time.RFC3339Nano)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestWrongSavedFloorGivesWayToAgreeingServers: a state file a year ahead (a majority that
// lied once, or a file from another device) must not keep the device in the future when two
// honest servers agree: the first sync believes them, the error says so, and the state file
// is rewritten at once so a reboot does not bring the wrong floor back.
func TestWrongSavedFloorGivesWayToAgreeingServers(t *testing.T) {
	w := newWorld(0)
	w.addServer("a:123", &fakeServer{})
	w.addServer("b:123", &fakeServer{skew: 2 * time.Millisecond})
	path := writeFloor(t, epoch.Add(365*24*time.Hour))
	c, logs := testClock(t, w, func(o *Options) { o.StateFile = path })
	mustSync(t, c)
	assertTime(t, "Now", c.Now(), w.trueNow().Add(time.Millisecond))
	if got := logs.FilterMessageSnippet("saved clock time is later").Len(); got != 1 {
		t.Errorf("%d error lines about the wrong floor, want 1: %v", got, logs.All())
	}
	saved, err := loadState(path)
	if err != nil {
		t.Fatal(err)
	}
	assertTime(t, "state file", saved, w.trueNow().Add(time.Millisecond))
}

// TestOneServerBelowSavedFloorBelievedAfterThreeSyncs: one server alone is believed against
// the saved floor only after it said so three syncs in a row; until then the reason is shown.
func TestOneServerBelowSavedFloorBelievedAfterThreeSyncs(t *testing.T) {
	w := newWorld(0)
	w.addServer("only:123", &fakeServer{})
	c, _ := testClock(t, w, func(o *Options) { o.StateFile = writeFloor(t, epoch.Add(30*24*time.Hour)) })
	for i := 1; i < belowFloorRounds; i++ {
		err := c.syncOnce(context.Background())
		if err == nil || !strings.Contains(err.Error(), "before the clock floor") {
			t.Fatalf("sync %d: err = %v, want the floor named", i, err)
		}
		if c.Status().Synced {
			t.Fatalf("sync %d: one server overruled the saved floor at once", i)
		}
	}
	mustSync(t, c)
	assertTime(t, "Now", c.Now(), w.trueNow())
}

// TestBuildTimeFloorStillHolds: however many servers agree, a time before the build is never
// believed: the binary cannot have been built in the future.
func TestBuildTimeFloorStillHolds(t *testing.T) {
	w := newWorld(0)
	w.addServer("a:123", &fakeServer{skew: -60 * 24 * time.Hour})
	w.addServer("b:123", &fakeServer{skew: -60 * 24 * time.Hour})
	c, _ := testClock(t, w, func(o *Options) { o.StateFile = writeFloor(t, epoch.Add(-time.Hour)) })
	for i := range belowFloorRounds + 1 {
		if err := c.syncOnce(context.Background()); err == nil {
			t.Fatalf("sync %d believed servers 60 days before the build time", i)
		}
	}
}
