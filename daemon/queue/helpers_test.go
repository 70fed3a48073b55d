package queue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir) // never returns: the parent test kills it
	}
	goleak.VerifyTestMain(m)
}

// testTime is a fixed base for message times, so tests never depend on the clock.
var testTime = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func msg(i int) Message {
	return Message{
		Topic:   fmt.Sprintf("dt/thing/%d", i%3),
		Payload: fmt.Appendf(nil, "message %d", i),
		QoS:     byte(i % 2),
		Time:    testTime.Add(time.Duration(i) * time.Millisecond),
	}
}

func openQ(t testing.TB, dir string, o Options) *Queue {
	t.Helper()
	q, err := Open(dir, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func appendRange(t testing.TB, q *Queue, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := q.Append(context.Background(), msg(i)); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
	}
}

func next(t testing.TB, q *Queue) Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := q.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return r
}

// expectEmpty checks that Next has nothing to hand out.
func expectEmpty(t testing.TB, q *Queue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if r, err := q.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next on a drained queue = seq %d %q, %v; want nothing", r.Seq, r.Payload, err)
	}
}

// expectMsgs reads len(want) records and checks they carry msg(i) for each i in want.
func expectMsgs(t testing.TB, q *Queue, want ...int) []Record {
	t.Helper()
	var recs []Record
	for _, i := range want {
		r := next(t, q)
		m := msg(i)
		if r.Topic != m.Topic || string(r.Payload) != string(m.Payload) || r.QoS != m.QoS || !r.Time.Equal(m.Time) {
			t.Fatalf("Next = seq %d %q %q qos %d %v; want %q %q qos %d %v", r.Seq, r.Topic, r.Payload, r.QoS, r.Time, m.Topic, m.Payload, m.QoS, m.Time)
		}
		recs = append(recs, r)
	}
	return recs
}

func seqRange(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func segFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

func observedLogger() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zap.InfoLevel)
	return zap.New(core), logs
}
