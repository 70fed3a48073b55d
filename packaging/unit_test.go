package packaging

import (
	"os/exec"
	"path"
	"slices"
	"strings"
	"testing"

	"thingd/daemon/config"
)

const unitFile = "systemd/thingd.service"

// unitDirectives parses a unit file into section → key → values, in order
// (a key may repeat, as SystemCallFilter= does).
func unitDirectives(t *testing.T, text string) map[string]map[string][]string {
	t.Helper()
	units := map[string]map[string][]string{}
	section := ""
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			units[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a directive: %q", unitFile, i+1, line)
			}
			units[section][k] = append(units[section][k], v)
		}
	}
	return units
}

// TestUnitDirectives checks the directives the daemon and the design rely on.
func TestUnitDirectives(t *testing.T) {
	u := unitDirectives(t, readRepoFile(t, unitFile))
	want := []struct{ section, key, value string }{
		{"Unit", "Wants", "network-online.target"},
		{"Unit", "After", "network-online.target"},
		{"Service", "Type", "notify"},
		{"Service", "NotifyAccess", "main"},
		{"Service", "ExecStart", "/usr/bin/thingd run"},
		{"Service", "ExecReload", "/bin/sh -c 'kill -HUP $$MAINPID'"},
		{"Service", "WatchdogSec", "30"},
		{"Service", "Restart", "on-failure"},
		{"Service", "RestartPreventExitStatus", "2"},
		// Soft = hard: the Go runtime finds nothing to raise (docs/packaging.md).
		{"Service", "LimitNOFILE", "4096"},
		{"Service", "User", "thingd"},
		{"Service", "Group", "thingd"},
		{"Service", "StateDirectory", "thingd"},
		{"Service", "RuntimeDirectory", "thingd"},
		{"Service", "ConfigurationDirectory", "thingd"},
		{"Service", "AmbientCapabilities", "CAP_SYS_TIME"},
		{"Service", "CapabilityBoundingSet", "CAP_SYS_TIME"},
		{"Service", "NoNewPrivileges", "yes"},
		{"Service", "ProtectSystem", "strict"},
		// A user namespace would confine CAP_SYS_TIME and clock steps would fail.
		{"Service", "PrivateUsers", "no"},
		{"Install", "WantedBy", "multi-user.target"},
	}
	for _, w := range want {
		if got := u[w.section][w.key]; !slices.Equal(got, []string{w.value}) {
			t.Errorf("[%s] %s = %q, want exactly %q", w.section, w.key, got, w.value)
		}
	}
	// Stepping the clock needs the capability and the clock syscalls.
	for _, key := range []string{"ProtectClock", "DynamicUser"} {
		if v, ok := u["Service"][key]; ok {
			t.Errorf("[Service] %s=%q is set; thingd must be able to step the clock as user thingd", key, v)
		}
	}
	filters := u["Service"]["SystemCallFilter"]
	if len(filters) == 0 || !slices.Contains(strings.Fields(filters[0]), "@clock") {
		t.Errorf("SystemCallFilter = %q, want an allow list with @clock first", filters)
	}
	for _, f := range filters[1:] {
		if strings.HasPrefix(f, "~") && (strings.Contains(f, "@clock") || strings.Contains(f, "@privileged")) {
			t.Errorf("SystemCallFilter=%s denies clock syscalls", f)
		}
	}
	// Waiting for time-sync.target would wait for the network thingd syncs over.
	for _, key := range []string{"Wants", "After", "Requires"} {
		if slices.Contains(u["Unit"][key], "time-sync.target") {
			t.Errorf("[Unit] %s=time-sync.target: thingd syncs the clock itself", key)
		}
	}
}

// TestUnitDirectoriesHoldDefaultPaths checks the default config only writes
// where the sandbox (ProtectSystem=strict) lets the service write.
func TestUnitDirectoriesHoldDefaultPaths(t *testing.T) {
	u := unitDirectives(t, readRepoFile(t, unitFile))
	cfg, err := config.Parse(config.DefaultPath, []byte(readRepoFile(t, "packaging/thingd.toml")))
	if err != nil {
		t.Fatalf("the packaged default config does not load: %v", err)
	}
	state := "/var/lib/" + u["Service"]["StateDirectory"][0]
	runtime := "/run/" + u["Service"]["RuntimeDirectory"][0]
	for _, p := range []struct{ key, value, dir string }{
		{"queue.dir", cfg.Queue.Dir, state},
		{"clock.state_file", cfg.Clock.StateFile, state},
		{"local.socket", cfg.Local.Socket, runtime},
	} {
		if !strings.HasPrefix(path.Clean(p.value)+"/", p.dir+"/") {
			t.Errorf("default %s = %q is outside %s, the only writable place for that", p.key, p.value, p.dir)
		}
	}
	if got := "/etc/" + u["Service"]["ConfigurationDirectory"][0] + "/thingd.toml"; got != config.DefaultPath {
		t.Errorf("ConfigurationDirectory gives %s, the daemon reads %s", got, config.DefaultPath)
	}
}

// TestUnitExposure checks systemd's own hardening score stays at or below 2.0
// (docs/packaging.md records the figure).
func TestUnitExposure(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (apt-get install -y systemd)")
	}
	// --threshold counts tenths: 20 is an exposure of 2.0.
	out, err := exec.Command(analyze, "security", "--offline=yes", "--threshold=20", "--no-pager", root+"/"+unitFile).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Overall exposure level for thingd.service") {
		t.Fatalf("no overall exposure in systemd-analyze output:\n%s", out)
	}
}
