package config

import (
	"strings"
	"testing"
	"time"
)

// TestJobsHandlers: [[jobs.handler]] entries get the default timeout, a relative state file
// is resolved against the config's directory, and each rule that keeps a job from running
// anything but a configured absolute program names its key.
func TestJobsHandlers(t *testing.T) {
	base := "version = 1\n[mqtt]\nendpoint = \"localhost\"\nclient_id = \"c\"\n"
	cfg, err := Parse("/etc/thingd/thingd.toml", []byte(base+`[jobs]
enabled = true
state_file = "jobs.json"
[[jobs.handler]]
operation = "reboot.sh"
exec = ["/usr/lib/thingd/reboot"]
reboot = true
`))
	if err != nil {
		t.Fatal(err)
	}
	h := cfg.Jobs.Handler
	if len(h) != 1 || h[0].Timeout.D() != 10*time.Minute || !h[0].Reboot || cfg.Jobs.StateFile != "/etc/thingd/jobs.json" ||
		cfg.Jobs.BootIDFile != "/proc/sys/kernel/random/boot_id" {
		t.Fatalf("jobs %+v", cfg.Jobs)
	}
	tests := map[string]string{
		"jobs.enabled":                "[jobs]\n[[jobs.handler]]\noperation = \"a\"\nexec = [\"/bin/a\"]\n",
		"jobs.handler[0].exec":        "[jobs]\nenabled = true\n[[jobs.handler]]\noperation = \"a\"\nexec = [\"a.sh\"]\n",
		"jobs.handler[0].exec (none)": "[jobs]\nenabled = true\n[[jobs.handler]]\noperation = \"a\"\n",
		"jobs.handler[0].operation":   "[jobs]\nenabled = true\n[[jobs.handler]]\nexec = [\"/bin/a\"]\n",
		"jobs.handler[1].operation":   "[jobs]\nenabled = true\n[[jobs.handler]]\noperation = \"a\"\nexec = [\"/bin/a\"]\n[[jobs.handler]]\noperation = \"a\"\nexec = [\"/bin/b\"]\n",
		"jobs.handler[0].timeout":     "[jobs]\nenabled = true\n[[jobs.handler]]\noperation = \"a\"\nexec = [\"/bin/a\"]\ntimeout = \"-1s\"\n",
		"jobs.state_file":             "[jobs]\nenabled = true\nstate_file = \"\"\n",
		"jobs.handler[0].shell":       "[jobs]\nenabled = true\n[[jobs.handler]]\noperation = \"a\"\nexec = [\"/bin/a\"]\nshell = true\n",
	}
	for key, extra := range tests {
		t.Run(key, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(base+extra))
			want := strings.Fields(key)[0] + ":"
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("got %v, want a problem for %s", err, want)
			}
		})
	}
}
