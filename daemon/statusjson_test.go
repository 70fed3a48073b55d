package daemon

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestStatusJSONOmitsUnknownTimes: a daemon that has never connected, synced or queued
// prints no since, last_sync or oldest, and prints them once they are known.
func TestStatusJSONOmitsUnknownTimes(t *testing.T) {
	var st Status
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"since"`, `"last_sync"`, `"oldest"`} {
		if strings.Contains(string(b), k) {
			t.Errorf("zero status has %s: %s", k, b)
		}
	}
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	st.Connection.Since, st.Clock.LastSync, st.Queue.Oldest = at, at, at
	st.Connection.Connected = true
	if b, err = json.Marshal(st); err != nil {
		t.Fatal(err)
	}
	var back Status
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.Connection.Since.Equal(at) || !back.Clock.LastSync.Equal(at) || !back.Queue.Oldest.Equal(at) || !back.Connection.Connected {
		t.Errorf("round trip lost fields: %s", b)
	}
}
