package check

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

var colors = map[Status]string{
	StatusPass: "\x1b[32m",
	StatusWarn: "\x1b[33m",
	StatusFail: "\x1b[31m",
	StatusSkip: "\x1b[90m",
}

// Print writes one line per result, "status  step  detail; fix: ...", then a summary.
// color adds ANSI colours to the status and the fix; use it only on a terminal.
func Print(w io.Writer, results []Result, color bool) error {
	counts := map[Status]int{}
	var b strings.Builder
	for _, r := range results {
		counts[r.Status]++
		status, fix := string(r.Status), r.Fix
		if color {
			status = colors[r.Status] + status + "\x1b[0m"
			if fix != "" {
				fix = "\x1b[1m" + fix + "\x1b[0m"
			}
		}
		fmt.Fprintf(&b, "%s  %-9s  %s", status, r.Step, r.Detail)
		if fix != "" && r.Status != StatusPass {
			fmt.Fprintf(&b, "; fix: %s", fix)
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "%d passed, %s, %d failed, %d skipped\n",
		counts[StatusPass], plural(counts[StatusWarn], "warning"), counts[StatusFail], counts[StatusSkip])
	_, err := io.WriteString(w, b.String())
	return err
}

// JSON writes the results as an array of objects: step, status, detail, fix and the
// step's structured fields (offset_ms, rtt_ms, path, addr, connack, ...).
func JSON(w io.Writer, results []Result) error {
	if results == nil {
		results = []Result{}
	}
	out, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(out, '\n'))
	return err
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
