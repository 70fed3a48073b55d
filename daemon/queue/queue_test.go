package queue

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Records come out in append order with increasing seqs, across many segment files.
func TestFIFOAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	q := openQ(t, dir, Options{MaxBytes: 1 << 20, SegmentBytes: 1 << 10})
	appendRange(t, q, 0, 300)
	if n := len(segFiles(t, dir)); n < 5 {
		t.Fatalf("%d segment files; the test wants several", n)
	}
	recs := expectMsgs(t, q, seqRange(0, 300)...)
	for i, r := range recs {
		if r.Seq != uint64(i+1) {
			t.Fatalf("record %d has seq %d, want %d", i, r.Seq, i+1)
		}
	}
	expectEmpty(t, q)
	if s := q.Stats(); s.Depth != 300 || s.Accepted != 300 || s.InFlight != 300 {
		t.Fatalf("Stats = %+v; want depth 300, accepted 300, in flight 300", s)
	}
}

// A batch Append is stored in order, and a message bigger than a segment gets its own.
func TestAppendBatchAndBigRecord(t *testing.T) {
	dir := t.TempDir()
	q := openQ(t, dir, Options{MaxBytes: 1 << 20, SegmentBytes: 1 << 10})
	big := Message{Topic: "big", Payload: make([]byte, 5000), QoS: 1, Time: testTime}
	if err := q.Append(context.Background(), msg(0), big, msg(1)); err != nil {
		t.Fatal(err)
	}
	expectMsgs(t, q, 0)
	if r := next(t, q); r.Topic != "big" || len(r.Payload) != 5000 {
		t.Fatalf("Next = %q with %d bytes; want the big message", r.Topic, len(r.Payload))
	}
	expectMsgs(t, q, 1)
}

// Everything appended survives Close and reopen; after acks only the rest comes back.
func TestDurableAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	o := Options{MaxBytes: 1 << 20, SegmentBytes: 1 << 10}
	q := openQ(t, dir, o)
	appendRange(t, q, 0, 100)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}

	q = openQ(t, dir, o)
	if d := q.Stats().Depth; d != 100 {
		t.Fatalf("depth after reopen = %d, want 100", d)
	}
	recs := expectMsgs(t, q, seqRange(0, 100)...)
	for _, r := range recs[:40] {
		q.Ack(r.Seq)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}

	q = openQ(t, dir, o)
	if s := q.Stats(); s.Depth != 60 || s.Head != 40 || !s.OldestTime.Equal(msg(40).Time) {
		t.Fatalf("Stats after reopen = %+v; want depth 60, head 40, oldest time of message 40", s)
	}
	expectMsgs(t, q, seqRange(40, 100)...)
	expectEmpty(t, q)
}

// Sequence numbers keep increasing across reopen, even when everything was acknowledged
// and the segments deleted.
func TestSeqContinuesAfterReopen(t *testing.T) {
	dir := t.TempDir()
	o := Options{MaxBytes: 1 << 20, SegmentBytes: 1 << 10}
	q := openQ(t, dir, o)
	appendRange(t, q, 0, 50)
	for range 50 {
		q.Ack(next(t, q).Seq)
	}
	q.Close()

	q = openQ(t, dir, o)
	if s := q.Stats(); s.Depth != 0 || s.Segments != 1 {
		t.Fatalf("Stats = %+v; want empty with one segment", s)
	}
	appendRange(t, q, 50, 52)
	if r := next(t, q); r.Seq != 51 {
		t.Fatalf("first seq after reopen = %d, want 51", r.Seq)
	}
	q.Close()

	q = openQ(t, dir, o)
	appendRange(t, q, 52, 53)
	for _, want := range []uint64{51, 52, 53} { // 51 is still unacknowledged
		if r := next(t, q); r.Seq != want {
			t.Fatalf("seq = %d, want %d", r.Seq, want)
		}
	}
}

// Acks may come in any order. The head stops at the oldest record not acknowledged; the
// records acknowledged above it are saved too, so after a restart only the one that never
// was is handed out again, and the head passes the rest as the reader goes by them.
func TestOutOfOrderAcks(t *testing.T) {
	dir := t.TempDir()
	o := Options{MaxBytes: 1 << 20, SegmentBytes: 1 << 10}
	q := openQ(t, dir, o)
	appendRange(t, q, 0, 10)
	recs := expectMsgs(t, q, seqRange(0, 10)...)
	for i := 9; i >= 1; i-- {
		q.Ack(recs[i].Seq)
	}
	q.Ack(recs[5].Seq) // a duplicate PUBACK
	if s := q.Stats(); s.Head != 0 || s.Depth != 1 || s.InFlight != 1 || s.Acked != 9 || s.AckedAhead != 9 {
		t.Fatalf("Stats = %+v; want head 0, depth 1, in flight 1, acked 9, 9 of them ahead of the head", s)
	}
	q.Close()

	q = openQ(t, dir, o)
	if s := q.Stats(); s.Head != 0 || s.Depth != 1 || s.AckedAhead != 9 {
		t.Fatalf("reopened: Stats = %+v; want head 0, depth 1, 9 known acknowledged ahead", s)
	}
	recs = expectMsgs(t, q, 0) // only the one never acknowledged
	q.Ack(recs[0].Seq)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if r, err := q.Next(ctx); err == nil {
		t.Fatalf("Next handed out seq %d, acknowledged before the restart", r.Seq)
	}
	if s := q.Stats(); s.Head != 10 || s.Depth != 0 || s.AckedAhead != 0 {
		t.Fatalf("after the reader passed them: Stats = %+v; want head 10, depth 0", s)
	}
	q.Close()

	q = openQ(t, dir, o)
	appendRange(t, q, 10, 12)
	expectMsgs(t, q, 10, 11)
}

// Holes: records not acknowledged between acknowledged ones are exactly what a restart
// hands out again, in order, whatever the pattern; the saved state follows the acks made
// after the restart too.
func TestAckHolesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	o := Options{MaxBytes: 1 << 20, SegmentBytes: 1 << 10}
	q := openQ(t, dir, o)
	appendRange(t, q, 0, 12)
	recs := expectMsgs(t, q, seqRange(0, 12)...)
	for _, i := range []int{1, 2, 4, 5, 6, 9} {
		q.Ack(recs[i].Seq)
	}
	q.Close()

	q = openQ(t, dir, o)
	recs = expectMsgs(t, q, 0, 3, 7, 8, 10, 11)
	q.Ack(recs[1].Seq) // 3
	q.Ack(recs[3].Seq) // 8
	q.Close()

	q = openQ(t, dir, o)
	expectMsgs(t, q, 0, 7, 10, 11)
}

// Rewind hands out again every record not acknowledged, in order, skipping those
// acknowledged out of order, then continues with new ones.
func TestRewind(t *testing.T) {
	q := openQ(t, t.TempDir(), Options{MaxBytes: 1 << 20, SegmentBytes: 1 << 10})
	appendRange(t, q, 0, 60)
	recs := expectMsgs(t, q, seqRange(0, 50)...)
	q.Ack(recs[0].Seq)
	q.Ack(recs[2].Seq)
	q.Ack(recs[45].Seq)
	q.Rewind()
	want := []int{1}
	want = append(want, seqRange(3, 45)...)
	want = append(want, seqRange(46, 60)...)
	expectMsgs(t, q, want...)
	expectEmpty(t, q)

	q.Rewind() // twice in a row, and with nothing acknowledged in between
	q.Rewind()
	expectMsgs(t, q, want...)
	if s := q.Stats(); s.InFlight != 57 || s.Depth != 57 || s.Head != 1 {
		t.Fatalf("Stats = %+v; want 57 in flight and queued, head 1", s)
	}
}

// Many producers at once: every message arrives once, each producer's in order.
func TestConcurrentProducers(t *testing.T) {
	q := openQ(t, t.TempDir(), Options{MaxBytes: 8 << 20, SegmentBytes: 64 << 10})
	const producers, each = 8, 200
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				m := Message{Topic: "p", Payload: []byte{byte(p), byte(i), byte(i >> 8)}, QoS: 1}
				if err := q.Append(context.Background(), m); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	seen := make([]int, producers)
	for range producers * each {
		r := next(t, q)
		p, i := int(r.Payload[0]), int(r.Payload[1])|int(r.Payload[2])<<8
		if i != seen[p] {
			t.Fatalf("producer %d: got message %d, want %d", p, i, seen[p])
		}
		seen[p]++
		q.Ack(r.Seq)
		if r.Seq%50 == 0 {
			q.Stats() // races with the writer would show under -race
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	expectEmpty(t, q)
	if s := q.Stats(); s.Depth != 0 || s.Accepted != producers*each {
		t.Fatalf("Stats = %+v", s)
	}
}

// Appending past MaxBytes drops the oldest whole segments, counts the unacknowledged
// records lost and warns once for the burst.
func TestMaxBytesDropsOldest(t *testing.T) {
	dir := t.TempDir()
	logger, logs := observedLogger()
	o := Options{MaxBytes: 8 << 10, SegmentBytes: 2 << 10, Logger: logger, Now: func() time.Time { return testTime }}
	q := openQ(t, dir, o)
	appendRange(t, q, 0, 1000)
	s := q.Stats()
	if s.Dropped == 0 || s.Bytes > o.MaxBytes {
		t.Fatalf("Stats = %+v; want drops and at most %d bytes", s, o.MaxBytes)
	}
	if s.Depth+int64(s.Dropped) != 1000 {
		t.Fatalf("depth %d + dropped %d != 1000 appended", s.Depth, s.Dropped)
	}
	first := next(t, q)
	if want := uint64(s.Dropped) + 1; first.Seq != want {
		t.Fatalf("first record after drops has seq %d, want %d", first.Seq, want)
	}
	if n := logs.FilterMessageSnippet("queue full").Len(); n != 1 {
		t.Fatalf("%d queue-full warnings for one burst, want 1", n)
	}
	// The records kept are exactly the newest ones, and survive reopen.
	q.Close()
	q = openQ(t, dir, o)
	expectMsgs(t, q, seqRange(int(s.Dropped), 1000)...)
	expectEmpty(t, q)
}

// A drop under a reader that is in the middle of the dropped segment moves it on, and the
// records it had handed out but not acked are not counted twice.
func TestDropUnderReader(t *testing.T) {
	q := openQ(t, t.TempDir(), Options{MaxBytes: 8 << 10, SegmentBytes: 2 << 10})
	appendRange(t, q, 0, 10)
	recs := expectMsgs(t, q, seqRange(0, 3)...)
	q.Ack(recs[1].Seq) // out of order: acked, but not below the head
	appendRange(t, q, 10, 1000)
	s := q.Stats()
	r := next(t, q)
	if r.Seq != s.Head+1 || s.Depth+int64(s.Dropped)+1 != 1000 {
		t.Fatalf("after drops: next seq %d, stats %+v; want seq head+1 and depth+dropped = 999", r.Seq, s)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(filepath.Join(file, "q"), Options{}); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("Open under a file = %v; want an error naming the path", err)
	}
	q := openQ(t, filepath.Join(dir, "q"), Options{})
	if _, err := Open(filepath.Join(dir, "q"), Options{}); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Errorf("second Open = %v; want an in-use error", err)
	}
	if _, err := Open(filepath.Join(dir, "r"), Options{MaxBytes: 100}); err == nil {
		t.Errorf("Open with max bytes 100 succeeded")
	}
	if fi, err := os.Stat(filepath.Join(dir, "q")); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("queue dir mode = %v, %v; want 0750", fi.Mode(), err)
	}
	q.Close()
}

func TestAppendRejects(t *testing.T) {
	q := openQ(t, t.TempDir(), Options{})
	for name, m := range map[string]Message{
		"empty topic": {Payload: []byte("x")},
		"qos 2":       {Topic: "t", QoS: 2},
		"huge":        {Topic: "t", Payload: make([]byte, MaxPayload+1)},
	} {
		t.Run(name, func(t *testing.T) {
			if err := q.Append(context.Background(), msg(0), m); err == nil {
				t.Fatal("Append succeeded")
			}
		})
	}
	if s := q.Stats(); s.Accepted != 0 {
		t.Fatalf("a rejected batch stored %d records", s.Accepted)
	}
}

// Close wakes a blocked Next; Append and Next afterwards fail with ErrClosed.
func TestClose(t *testing.T) {
	q := openQ(t, t.TempDir(), Options{})
	errc := make(chan error)
	go func() {
		_, err := q.Next(context.Background())
		errc <- err
	}()
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("blocked Next after Close = %v, want ErrClosed", err)
	}
	if err := q.Append(context.Background(), msg(0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v", err)
	}
	if err := q.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}

// A message with no time gets Options.Now; Stats reports the oldest unacknowledged time.
func TestTimes(t *testing.T) {
	now := testTime.Add(time.Hour)
	q := openQ(t, t.TempDir(), Options{Now: func() time.Time { return now }})
	if s := q.Stats(); !s.OldestTime.IsZero() {
		t.Fatalf("empty queue has oldest time %v", s.OldestTime)
	}
	if err := q.Append(context.Background(), Message{Topic: "t", QoS: 1}, msg(1)); err != nil {
		t.Fatal(err)
	}
	if s := q.Stats(); !s.OldestTime.Equal(now) {
		t.Fatalf("oldest time %v, want %v", s.OldestTime, now)
	}
	r := next(t, q)
	if !r.Time.Equal(now) {
		t.Fatalf("record time %v, want Now() %v", r.Time, now)
	}
	q.Ack(r.Seq)
	if s := q.Stats(); !s.OldestTime.Equal(msg(1).Time) {
		t.Fatalf("oldest time %v, want %v", s.OldestTime, msg(1).Time)
	}
}

// When a write fails and cannot be rolled back, appends fail loudly instead of claiming
// durability; what was queued before stays readable, and a reopen recovers.
func TestWriteFailure(t *testing.T) {
	dir := t.TempDir()
	logger, logs := observedLogger()
	q := openQ(t, dir, Options{Logger: logger})
	appendRange(t, q, 0, 1)
	q.w.f.Close() // the writer is idle: Append returned
	if err := q.Append(context.Background(), msg(1)); err == nil {
		t.Fatal("Append on a failing disk returned nil")
	}
	if err := q.Append(context.Background(), msg(2)); err == nil || !strings.Contains(err.Error(), "restart thingd") {
		t.Fatalf("Append after an unrecoverable write error = %v; want the fix named", err)
	}
	if logs.FilterMessageSnippet("write failed").Len() == 0 {
		t.Error("the write failure was not logged")
	}
	expectMsgs(t, q, 0)
	q.Close()

	q = openQ(t, dir, Options{})
	appendRange(t, q, 3, 4)
	expectMsgs(t, q, 0, 3)
}

// Producers, out-of-order acks, Rewinds and MaxBytes drops all at once: in the end every
// record was either acknowledged or dropped, exactly once, and nothing is left.
func TestChaos(t *testing.T) {
	q := openQ(t, t.TempDir(), Options{MaxBytes: 4 << 10, SegmentBytes: 1 << 10})
	rng := rand.New(rand.NewPCG(1, 2))
	var wg sync.WaitGroup
	for p := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				if err := q.Append(context.Background(), msg(p*1000+i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var pending []uint64
	drain := func(timeout time.Duration) bool {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		r, err := q.Next(ctx)
		if err != nil {
			return false
		}
		pending = append(pending, r.Seq)
		return true
	}
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		// Between 200 and 700 appended the consumer stops reading (but still acks and
		// rewinds), so the backlog overflows MaxBytes under its in-flight records.
		paused := false
		if a := q.Stats().Accepted; a > 200 && a < 700 {
			paused = true
			time.Sleep(100 * time.Microsecond)
		}
		switch n := rng.IntN(10); {
		case n < 4 && !paused:
			drain(time.Millisecond)
		case n < 6 && len(pending) > 0:
			i := rng.IntN(len(pending))
			q.Ack(pending[i])
			pending = append(pending[:i], pending[i+1:]...)
		case n == 9:
			q.Rewind()
			pending = pending[:0]
		}
	}
	q.Rewind()
	pending = pending[:0]
	for drain(100 * time.Millisecond) {
		q.Ack(pending[len(pending)-1])
	}
	s := q.Stats()
	t.Logf("%+v", s)
	if s.Depth != 0 || s.InFlight != 0 || s.Accepted != 1200 || s.Acked+s.Dropped != s.Accepted || s.Dropped == 0 {
		t.Fatalf("Stats = %+v; want drops, empty, and acked + dropped = accepted = 1200", s)
	}
}
