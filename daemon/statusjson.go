package daemon

import (
	"encoding/json"
	"time"
)

// The status document leaves out times that are not known yet. encoding/json's omitzero
// needs Go 1.24 and thingd builds with Go 1.22 (docs/packaging.md), so these methods
// overlay each optional time with a pointer that omitempty can drop. The overlay field is
// shallower than the embedded one, so it is the one encoded.

func (s ConnectionStatus) MarshalJSON() ([]byte, error) {
	type plain ConnectionStatus
	return json.Marshal(struct {
		plain
		Since *time.Time `json:"since,omitempty"`
	}{plain(s), known(s.Since)})
}

func (s ClockStatus) MarshalJSON() ([]byte, error) {
	type plain ClockStatus
	return json.Marshal(struct {
		plain
		LastSync *time.Time `json:"last_sync,omitempty"`
	}{plain(s), known(s.LastSync)})
}

func (s QueueStatus) MarshalJSON() ([]byte, error) {
	type plain QueueStatus
	return json.Marshal(struct {
		plain
		Oldest *time.Time `json:"oldest,omitempty"`
	}{plain(s), known(s.Oldest)})
}

func known(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
