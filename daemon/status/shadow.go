package status

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Shadow is the Device Shadow agent's state, present when [shadow] is enabled.
type Shadow struct {
	Topic string `json:"topic"` // $aws/things/<thing>/shadow[/name/<name>]
	// InSync: the shadow was read on this connection, so updates carry only changes.
	InSync     bool       `json:"in_sync"`
	Version    int        `json:"version"`
	Updates    uint64     `json:"updates"` // updates AWS accepted since start
	LastUpdate *time.Time `json:"last_update,omitempty"`
	// Settings are the desired settings in effect (setting key -> value).
	Settings map[string]any `json:"settings,omitempty"`
	// Refused are desired settings not applied, with the reason.
	Refused map[string]string `json:"refused,omitempty"`
	// LastRejected is AWS's last refusal of an update ("413 The payload exceeds ...").
	LastRejected string `json:"last_rejected,omitempty"`
}

// text is the shadow's lines in Text().
func (s *Shadow) text() string {
	var w strings.Builder
	sync := "not read yet on this connection"
	if s.InSync {
		sync = fmt.Sprintf("version %d", s.Version)
	}
	fmt.Fprintf(&w, "shadow      %s: %s, %d updates", s.Topic, sync, s.Updates)
	if s.LastUpdate != nil {
		fmt.Fprintf(&w, ", last %s", s.LastUpdate.Format(time.RFC3339))
	}
	fmt.Fprintln(&w)
	if len(s.Settings) > 0 {
		fmt.Fprintf(&w, "            settings from the shadow: %s\n", strings.Join(pairsOf(s.Settings), ", "))
	}
	for _, k := range sortedOf(s.Refused) {
		fmt.Fprintf(&w, "            refused %s: %s\n", k, s.Refused[k])
	}
	if s.LastRejected != "" {
		fmt.Fprintf(&w, "            last update rejected: %s\n", s.LastRejected)
	}
	return w.String()
}

func pairsOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for _, k := range sortedOf(m) {
		out = append(out, fmt.Sprintf("%s = %v", k, m[k]))
	}
	return out
}

func sortedOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
