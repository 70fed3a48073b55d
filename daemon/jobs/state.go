package jobs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"thingd/internal/atomicfile"
)

// Phases of the job in progress, as recorded before each move.
const (
	phaseRunning   = "running"   // step Step was started (or about to be)
	phaseRebooting = "rebooting" // step Step (a reboot) exited 0; the reboot is pending
	phaseDone      = "done"      // the outcome is known and being reported
)

// record is the job in progress, durable before anything runs, so that a restart or a
// reboot concludes the job once: never runs a step twice, never forgets the job.
type record struct {
	JobID           string  `json:"jobId"`
	ExecutionNumber int64   `json:"executionNumber"`
	Step            int     `json:"step"`
	Phase           string  `json:"phase"`
	BootID          string  `json:"bootId"`
	Outcome         *result `json:"outcome,omitempty"`
}

// result is the terminal update to report.
type result struct {
	Status  string  `json:"status"`
	Details details `json:"details"`
}

type store struct{ path string }

func (s store) load() (*record, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the job state %s: %w", s.path, err)
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil || r.JobID == "" {
		return nil, fmt.Errorf("the job state %s is damaged (%v); remove it, and check the job in the AWS IoT console", s.path, err)
	}
	return &r, nil
}

func (s store) save(r *record) error {
	b, _ := json.Marshal(r)
	if err := atomicfile.Write(s.path, b, 0o600); err != nil {
		return fmt.Errorf("record the job in progress in %s: %w (jobs need a writable jobs.state_file)", s.path, err)
	}
	return nil
}

func (s store) clear() error {
	if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove the job state %s: %w", s.path, err)
	}
	return nil
}

// bootID reads the kernel's boot ID (a new one every boot).
func bootID(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read the boot ID %s: %w (set jobs.boot_id_file to /proc/sys/kernel/random/boot_id)", path, err)
	}
	return strings.TrimSpace(string(b)), nil
}
