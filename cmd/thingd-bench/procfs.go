package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// memory is a process's resident set, from /proc/<pid>/status, in bytes.
type memory struct {
	RSS, HWM int64
	// Anon is heap and stacks; File is mapped pages of the binary and libraries, which the
	// kernel can drop and read again under pressure.
	Anon, File int64
}

func (m memory) String() string {
	return fmt.Sprintf("RSS %.1f MiB (anon %.1f, file %.1f), HWM %.1f MiB", mib(m.RSS), mib(m.Anon), mib(m.File), mib(m.HWM))
}

func readMemory(pid int) (memory, error) {
	f, err := readProcFields(fmt.Sprintf("/proc/%d/status", pid), ":")
	if err != nil {
		return memory{}, err
	}
	kib := func(k string) int64 {
		v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(f[k]), " kB"), 10, 64)
		return v << 10
	}
	return memory{RSS: kib("VmRSS"), HWM: kib("VmHWM"), Anon: kib("RssAnon"), File: kib("RssFile") + kib("RssShmem")}, nil
}

// ioCounters are /proc/<pid>/io: write_bytes is what the process caused to be sent to the
// block layer (pages it dirtied), the figure that wears an SD card; wchar is what it passed
// to write(2).
type ioCounters struct {
	WriteBytes, WChar, SyscW int64
}

func readIO(pid int) (ioCounters, error) {
	f, err := readProcFields(fmt.Sprintf("/proc/%d/io", pid), ":")
	if err != nil {
		return ioCounters{}, err
	}
	n := func(k string) int64 {
		v, _ := strconv.ParseInt(strings.TrimSpace(f[k]), 10, 64)
		return v
	}
	return ioCounters{WriteBytes: n("write_bytes"), WChar: n("wchar"), SyscW: n("syscw")}, nil
}

func (a ioCounters) sub(b ioCounters) ioCounters {
	return ioCounters{WriteBytes: a.WriteBytes - b.WriteBytes, WChar: a.WChar - b.WChar, SyscW: a.SyscW - b.SyscW}
}

// readProcFields parses "key<sep> value" lines.
func readProcFields(path, sep string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseFields(data, sep), nil
}

func parseFields(data []byte, sep string) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), sep)
		if ok {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out
}

// cpuTime is the user plus system CPU time a process used so far (/proc/<pid>/stat).
func cpuTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; the fields after its closing parenthesis are fixed.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// clockTicks is USER_HZ, 100 on every Linux that thingd targets.
const clockTicks = 100

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// smapsTop returns the mappings of a process holding the most resident memory, largest
// first, as "name: N KiB" (from /proc/<pid>/smaps).
func smapsTop(pid, n int) ([]string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return nil, err
	}
	type mapping struct {
		name string
		rss  int64
	}
	var maps []mapping
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":"):
			name := "[anon]"
			if len(f) >= 6 {
				name = filepath.Base(f[5])
			}
			maps = append(maps, mapping{name: name + " " + f[1]})
		case len(f) >= 2 && f[0] == "Rss:" && len(maps) > 0:
			v, _ := strconv.ParseInt(f[1], 10, 64)
			maps[len(maps)-1].rss = v
		}
	}
	slices.SortFunc(maps, func(a, b mapping) int { return int(b.rss - a.rss) })
	var out []string
	for _, m := range maps[:min(n, len(maps))] {
		out = append(out, fmt.Sprintf("%s: %d KiB", m.name, m.rss))
	}
	return out, nil
}
