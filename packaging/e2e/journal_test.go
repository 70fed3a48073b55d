package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// journalEntry is one line of `journalctl -o json`: the fields the test reads.
type journalEntry struct {
	Message    string
	Priority   int
	Identifier string
}

// journal returns thingd's own lines (not systemd's lines about the unit), oldest first.
func (c *container) journal(ctx context.Context) ([]journalEntry, error) {
	out, err := c.run(ctx, "journalctl", "-u", "thingd.service", "-o", "json", "--no-pager",
		"SYSLOG_IDENTIFIER=thingd")
	if err != nil {
		return nil, err
	}
	var entries []journalEntry
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			return nil, fmt.Errorf("journalctl -o json printed a line that is not JSON: %w: %q", err, line)
		}
		e := journalEntry{Message: jsonText(raw["MESSAGE"]), Identifier: jsonText(raw["SYSLOG_IDENTIFIER"]), Priority: -1}
		if p, err := strconv.Atoi(jsonText(raw["PRIORITY"])); err == nil {
			e.Priority = p
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// jsonText decodes a journal field: a string, or an array of bytes when it is not UTF-8.
func jsonText(m json.RawMessage) string {
	var s string
	if json.Unmarshal(m, &s) == nil {
		return s
	}
	var b []byte
	var ints []int
	if json.Unmarshal(m, &ints) == nil {
		for _, i := range ints {
			b = append(b, byte(i))
		}
	}
	return string(b)
}

// waitJournal polls until a line of thingd's containing text appears after the first
// `skip` lines, and returns it. journald gets lines asynchronously, so one look is not enough.
func (c *container) waitJournal(t *testing.T, text string, skip int, timeout time.Duration) (journalEntry, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last []journalEntry
	for {
		entries, err := c.journal(ctx)
		if err == nil {
			last = entries
			for i := skip; i < len(entries); i++ {
				if strings.Contains(entries[i].Message, text) {
					return entries[i], i
				}
			}
		}
		select {
		case <-ctx.Done():
			var b strings.Builder
			for _, e := range last {
				fmt.Fprintf(&b, "  <%d> %s\n", e.Priority, e.Message)
			}
			t.Fatalf("no journal line of thingd containing %q within %s (error %v); thingd's journal:\n%s", text, timeout, err, b.String())
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// journalLen is how many lines thingd has logged so far: a mark for waitJournal's skip.
func (c *container) journalLen(t *testing.T) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	entries, err := c.journal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}
