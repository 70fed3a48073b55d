package queue

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// TestTailCorruptionReportedAsLoss: a flipped byte in the first record of the last segment
// is not a torn write. The segment is not cut there: the 9 intact records after it stay and
// are delivered, and the one damaged record is logged as an error naming the file and counted.
func TestTailCorruptionReportedAsLoss(t *testing.T) {
	dir := t.TempDir()
	q := openQ(t, dir, Options{})
	appendRange(t, q, 0, 10)
	q.Close()
	files := segFiles(t, dir)
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	b[segHeaderSize+recHeaderSize+20] ^= 0xff // inside the first record
	if err := os.WriteFile(files[0], b, 0o640); err != nil {
		t.Fatal(err)
	}
	log, logs := observedLogger()
	q2 := openQ(t, dir, Options{Logger: log})
	var got []uint64
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		r, err := q2.Next(ctx)
		cancel()
		if err != nil {
			break
		}
		got = append(got, r.Seq)
		q2.Ack(r.Seq)
	}
	if len(got) != 9 || got[0] != 2 || got[8] != 10 {
		t.Errorf("delivered %v, want 2..10", got)
	}
	if s := q2.Stats(); s.Corrupt != 1 || s.Depth != 0 {
		t.Errorf("stats %+v, want Corrupt 1 and an empty queue", s)
	}
	found := false
	for _, e := range logs.All() {
		if e.Level == zapcore.ErrorLevel && e.ContextMap()["file"] == files[0] && e.ContextMap()["lost"] == uint64(1) {
			found = true
		}
		if strings.Contains(e.Message, "torn tail") {
			t.Errorf("loss logged as a harmless torn tail: %s", e.Message)
		}
	}
	if !found {
		t.Errorf("no error naming %s and the 1 lost message; logs: %v", files[0], logs.All())
	}
}

// TestMissingOldestSegmentReported: deleting the oldest segment file by hand is reported
// as an error naming the next file and how many messages are gone, and counted.
func TestMissingOldestSegmentReported(t *testing.T) {
	dir := t.TempDir()
	q := openQ(t, dir, Options{MaxBytes: 64 << 10, SegmentBytes: 1 << 10})
	appendRange(t, q, 0, 100)
	q.Close()
	files := segFiles(t, dir)
	if len(files) < 3 {
		t.Fatalf("want several segments, got %v", files)
	}
	if err := os.Remove(files[0]); err != nil {
		t.Fatal(err)
	}
	log, logs := observedLogger()
	q2 := openQ(t, dir, Options{MaxBytes: 64 << 10, SegmentBytes: 1 << 10, Logger: log})
	first, _ := parseSegName(filepathBase(files[1]))
	want := first - 1
	if c := q2.Stats().Corrupt; c != want {
		t.Errorf("Corrupt = %d, want %d", c, want)
	}
	found := false
	for _, e := range logs.FilterLevelExact(zapcore.ErrorLevel).All() {
		if e.ContextMap()["file"] == files[1] && e.ContextMap()["lost"] == want {
			found = true
		}
	}
	if !found {
		t.Errorf("no error naming %s and %d lost messages; logs %v", files[1], want, logs.All())
	}
	if r := next(t, q2); r.Seq != first {
		t.Errorf("first record after the gap is %d, want %d", r.Seq, first)
	}
}

// TestDamagedAckFileReported: an ack file with bytes but no valid slot is logged.
func TestDamagedAckFileReported(t *testing.T) {
	dir := t.TempDir()
	q := openQ(t, dir, Options{})
	appendRange(t, q, 0, 3)
	q.Ack(next(t, q).Seq)
	q.Close()
	path := dir + "/" + ackFileName
	if err := os.WriteFile(path, make([]byte, 64), 0o640); err != nil {
		t.Fatal(err)
	}
	log, logs := observedLogger()
	openQ(t, dir, Options{Logger: log})
	if logs.FilterLevelExact(zapcore.ErrorLevel).FilterField(zap.String("file", path)).Len() != 1 {
		t.Errorf("damaged ack file not reported; logs %v", logs.All())
	}
}

func filepathBase(p string) string { return p[strings.LastIndexByte(p, '/')+1:] }

// TestLossCountSurvivesRestart: the count of lost messages is kept across Close and Open.
func TestLossCountSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	q := openQ(t, dir, Options{MaxBytes: 64 << 10, SegmentBytes: 1 << 10})
	appendRange(t, q, 0, 100)
	q.Close()
	files := segFiles(t, dir)
	if err := os.Remove(files[0]); err != nil {
		t.Fatal(err)
	}
	q2 := openQ(t, dir, Options{MaxBytes: 64 << 10, SegmentBytes: 1 << 10})
	lost := q2.Stats().CorruptTotal
	if lost == 0 {
		t.Fatal("no loss counted")
	}
	q2.Close()
	q3 := openQ(t, dir, Options{MaxBytes: 64 << 10, SegmentBytes: 1 << 10})
	if st := q3.Stats(); st.CorruptTotal != lost || st.Corrupt != 0 {
		t.Fatalf("after a restart CorruptTotal = %d (this run %d), want %d", st.CorruptTotal, st.Corrupt, lost)
	}
}
