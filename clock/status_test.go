package clock

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestStatusString(t *testing.T) {
	floor := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		st   Status
		want string
	}{
		{"synced", Status{Synced: true, Offset: 3200 * time.Microsecond, Server: "127.0.0.1:12345"},
			"clock synced +3.2ms via 127.0.0.1:12345"},
		{"unsynced with error", Status{Floor: floor, LastError: "no NTP answer from time.aws.com: i/o timeout"},
			"clock unsynced (floor 2026-11-27T08:00:00Z): no NTP answer from time.aws.com: i/o timeout"},
		{"unsynced, nothing tried yet", Status{Floor: floor},
			"clock unsynced (floor 2026-11-27T08:00:00Z): waiting for the first NTP answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.st.String(); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestStatusAfterFailedSync: the status line names the server and the reason.
func TestStatusAfterFailedSync(t *testing.T) {
	w := newWorld(0)
	w.addServer("time.aws.com:123", &fakeServer{err: errors.New("i/o timeout")})
	c, _ := testClock(t, w, func(o *Options) { o.Servers = []string{"time.aws.com:123"} })
	if err := c.syncOnce(context.Background()); err == nil {
		t.Fatal("sync succeeded with no answer")
	}
	want := "clock unsynced (floor " + c.Floor().Format(time.RFC3339) + "): no NTP answer from time.aws.com:123: i/o timeout"
	if got := c.Status().String(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
