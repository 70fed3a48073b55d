package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// machineInfo is what the report says about where it was measured.
type machineInfo struct {
	CPU, Kernel, OS, Commit, Go, Thingd, Mosquitto string
	Cores                                          int
	RAM                                            int64
	Date                                           time.Time
	LoadBefore                                     string
}

func describeMachine(thingdBin string) (machineInfo, error) {
	m := machineInfo{Cores: runtime.NumCPU(), Date: time.Now().UTC(), Go: runtime.Version(), LoadBefore: loadAverage()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if f, err := readProcFields("/proc/meminfo", ":"); err == nil {
		var kb int64
		fmt.Sscanf(f["MemTotal"], "%d", &kb)
		m.RAM = kb << 10
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	if f, err := readProcFields("/etc/os-release", "="); err == nil {
		m.OS = strings.Trim(f["PRETTY_NAME"], `"`)
	}
	m.Commit = commandLine("git", "rev-parse", "--short=12", "HEAD")
	if out := commandLine("git", "status", "--porcelain", "--untracked-files=no"); out != "" {
		m.Commit += " (with uncommitted changes)"
	}
	abs, err := filepath.Abs(thingdBin)
	if err != nil {
		return m, err
	}
	if m.Thingd = commandLine(abs, "version"); m.Thingd == "" {
		return m, fmt.Errorf("%s version gave nothing: is it a thingd binary? (run make build)", abs)
	}
	m.Mosquitto = commandLine("mosquitto", "-h")
	if first, _, ok := strings.Cut(m.Mosquitto, "\n"); ok {
		m.Mosquitto = first
	}
	return m, nil
}

// commandLine runs a command and returns its trimmed output, "" on failure.
func commandLine(name string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout = &out
	_ = cmd.Run() // mosquitto -h exits 3 after printing its usage
	return strings.TrimSpace(out.String())
}

func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
