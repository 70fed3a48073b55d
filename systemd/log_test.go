package systemd

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
)

func journalLogger(t *testing.T, level string, now func() time.Time) (*zap.Logger, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	on := true
	log, _, err := NewLogger(LogOptions{Level: level, Out: &buf, Journal: &on, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return log, &buf
}

// TestJournalPriorities: under journald every line starts with the syslog priority of
// its level and carries no timestamp of its own.
func TestJournalPriorities(t *testing.T) {
	log, buf := journalLogger(t, "debug", nil)
	log.Debug("d")
	log.Info("i", zap.String("k", "v"))
	log.Warn("w")
	log.Error("e")
	got := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{"<7>d", "<6>i", "<4>w", "<3>e"}
	if len(got) != len(want) {
		t.Fatalf("lines = %q", got)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("line %d = %q, want prefix %q", i, got[i], want[i])
		}
	}
	if !strings.Contains(got[1], `"k": "v"`) {
		t.Errorf("fields missing from %q", got[1])
	}
	if strings.Contains(buf.String(), time.Now().Format("2006-01-02")) {
		t.Errorf("journal lines carry a timestamp: %q", buf.String())
	}
}

func TestLevelFiltersAndRejectsUnknown(t *testing.T) {
	log, buf := journalLogger(t, "warn", nil)
	log.Info("hidden")
	log.Warn("shown")
	if strings.Contains(buf.String(), "hidden") || !strings.Contains(buf.String(), "shown") {
		t.Errorf("level warn wrote %q", buf.String())
	}
	if _, _, err := NewLogger(LogOptions{Level: "chatty"}); err == nil {
		t.Error("unknown level accepted")
	}
}

// TestRepeatedErrorsAreRateLimited: the same error is written once per window, then
// once more with the count of what was suppressed; a different error is never held back.
func TestRepeatedErrorsAreRateLimited(t *testing.T) {
	now := time.Unix(1e9, 0)
	log, buf := journalLogger(t, "info", func() time.Time { return now })
	conn := log.With(zap.String("component", "session"))
	for i := 0; i < 50; i++ {
		conn.Error("connect failed", zap.Error(errors.New("connection refused")))
		now = now.Add(time.Second)
	}
	conn.Error("connect failed", zap.Error(errors.New("no route to host")))
	log.Error("connect failed", zap.Error(errors.New("connection refused"))) // other context
	now = now.Add(time.Minute)
	conn.Error("connect failed", zap.Error(errors.New("connection refused")))
	for i := 0; i < 3; i++ {
		log.Info("info is never limited")
	}
	out := buf.String()
	if n := strings.Count(out, "connection refused"); n != 3 {
		t.Errorf("refused written %d times, want 3:\n%s", n, out)
	}
	if !strings.Contains(out, `"suppressed": 49`) {
		t.Errorf("no suppressed count:\n%s", out)
	}
	if strings.Count(out, "no route to host") != 1 || strings.Count(out, "info is never limited") != 3 {
		t.Errorf("limiter held back the wrong lines:\n%s", out)
	}
}

func TestStderrIsJournal(t *testing.T) {
	var st syscall.Stat_t
	if err := syscall.Fstat(2, &st); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JOURNAL_STREAM", "")
	if StderrIsJournal() {
		t.Error("detected journal without JOURNAL_STREAM")
	}
	t.Setenv("JOURNAL_STREAM", "1:2")
	if StderrIsJournal() {
		t.Error("detected journal for another stream")
	}
	t.Setenv("JOURNAL_STREAM", strconv.FormatUint(st.Dev, 10)+":"+strconv.FormatUint(st.Ino, 10))
	if !StderrIsJournal() {
		t.Error("did not detect journal for stderr's own device:inode")
	}
}
