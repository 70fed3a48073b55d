package config

import (
	"fmt"
	"strings"
	"time"
)

// Jobs is AWS IoT Jobs: which program runs which job operation (docs/jobs.md).
type Jobs struct {
	// Enabled subscribes to the thing's jobs topics and runs jobs; off, thingd ignores jobs.
	Enabled bool `toml:"enabled"`
	// StateFile records the job in progress, so a restart or reboot concludes it once.
	StateFile string `toml:"state_file"`
	// BootIDFile changes on every boot; a reboot step is done when it changed.
	BootIDFile string       `toml:"boot_id_file"`
	Handler    []JobHandler `toml:"handler"`
}

// JobHandler runs one operation: the job document's "operation" (old schema), a step's
// input.handler such as "reboot.sh" (AWS managed templates), or "runCommand".
type JobHandler struct {
	Operation string   `toml:"operation"`
	Exec      []string `toml:"exec"`
	Timeout   Duration `toml:"timeout"`
	// Reboot marks a step that reboots the device: it succeeds when thingd comes back on a
	// new boot, and is never run again.
	Reboot bool `toml:"reboot"`
}

// DefaultJobTimeout bounds one job step when [[jobs.handler]] sets no timeout.
const DefaultJobTimeout = 10 * time.Minute

func jobsDefaults() Jobs {
	return Jobs{StateFile: "/var/lib/thingd/jobs.json", BootIDFile: "/proc/sys/kernel/random/boot_id"}
}

// fillJobs gives handler entries (created from zero values by the decoder) their defaults.
func (c *Config) fillJobs() {
	for i := range c.Jobs.Handler {
		if c.Jobs.Handler[i].Timeout == 0 {
			c.Jobs.Handler[i].Timeout = Duration(DefaultJobTimeout)
		}
	}
}

func (c *Config) validateJobs(ck *checker) {
	j := &c.Jobs
	if j.Enabled && j.StateFile == "" {
		ck.bad("jobs.state_file", "is empty; set a file such as /var/lib/thingd/jobs.json (it keeps the job in progress across restarts)")
	}
	if j.Enabled && j.BootIDFile == "" {
		ck.bad("jobs.boot_id_file", "is empty; use /proc/sys/kernel/random/boot_id")
	}
	if len(j.Handler) > 0 && !j.Enabled {
		ck.bad("jobs.enabled", "is false but [[jobs.handler]] entries are set; add `enabled = true` under [jobs] to run jobs")
	}
	seen := map[string]int{}
	for i, h := range j.Handler {
		key := fmt.Sprintf("jobs.handler[%d]", i)
		switch {
		case h.Operation == "":
			ck.bad(key+".operation", "is empty; name the job document's operation, such as \"reboot.sh\" or \"runCommand\"")
		case strings.ContainsAny(h.Operation, "/\x00"):
			ck.bad(key+".operation", "%q must be a name, not a path: the program to run goes in exec", h.Operation)
		}
		if prev, dup := seen[h.Operation]; dup && h.Operation != "" {
			ck.bad(key+".operation", "%q is already handled by jobs.handler[%d]", h.Operation, prev)
		}
		seen[h.Operation] = i
		switch {
		case len(h.Exec) == 0 || h.Exec[0] == "":
			ck.bad(key+".exec", "is empty; set exec = [\"/path/to/program\", ...]")
		case !strings.HasPrefix(h.Exec[0], "/"):
			ck.bad(key+".exec", "program %q must be an absolute path (no shell, no $PATH lookup)", h.Exec[0])
		}
		if h.Timeout.D() <= 0 {
			ck.bad(key+".timeout", "must be positive, such as \"10m\"")
		}
	}
}
