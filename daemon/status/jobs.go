package status

import (
	"fmt"
	"strings"
	"time"
)

// Jobs is the AWS IoT Jobs agent; nil (omitted) when [jobs] is off.
type Jobs struct {
	Current    string     `json:"current,omitempty"`
	LastJob    string     `json:"last_job,omitempty"`
	LastStatus string     `json:"last_status,omitempty"`
	LastAt     *time.Time `json:"last_at,omitempty"`
	Concluded  int        `json:"concluded"`
}

// text is the `thingd status` line.
func (j *Jobs) text() string {
	var parts []string
	if j.Current != "" {
		parts = append(parts, "running "+j.Current)
	} else {
		parts = append(parts, "idle")
	}
	if j.LastJob != "" {
		last := fmt.Sprintf("last %s %s", j.LastJob, j.LastStatus)
		if j.LastAt != nil {
			last += " at " + j.LastAt.Local().Format(time.RFC3339)
		}
		parts = append(parts, last)
	}
	parts = append(parts, fmt.Sprintf("%d concluded", j.Concluded))
	return strings.Join(parts, ", ")
}
