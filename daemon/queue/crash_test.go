package queue

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A crash mid-write leaves a torn record or garbage at the tail of the last segment:
// reopening works, keeps every intact record, counts the torn one, and appends go on.
func TestTornTail(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cut     int64 // bytes cut off the end of the last segment
		garbage []byte
		kept    int // records expected back out of 10
		corrupt uint64
	}{
		{name: "mid body", cut: 5, kept: 9, corrupt: 1},
		{name: "mid header", cut: 46 - 4, kept: 9, corrupt: 1}, // message 9 is 46 bytes on disk
		{name: "mid body plus garbage", cut: 7, garbage: []byte("\x13\x00\x00\x00garbage after a crash"), kept: 9, corrupt: 1},
		{name: "garbage after a whole record", garbage: []byte{0xff, 0xff, 1, 2, 3}, kept: 10, corrupt: 1},
		{name: "zeros after a whole record", garbage: make([]byte, 4096), kept: 10, corrupt: 1},
		{name: "clean", kept: 10, corrupt: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			q := openQ(t, dir, Options{})
			appendRange(t, q, 0, 10)
			q.Close()
			segs := segFiles(t, dir)
			tear(t, segs[len(segs)-1], tc.cut, tc.garbage)

			logger, logs := observedLogger()
			q = openQ(t, dir, Options{Logger: logger})
			if s := q.Stats(); s.Corrupt != tc.corrupt || s.Depth != int64(tc.kept) {
				t.Fatalf("Stats = %+v; want corrupt %d, depth %d", s, tc.corrupt, tc.kept)
			}
			if tc.corrupt > 0 && logs.FilterMessageSnippet("torn").Len() != 1 {
				t.Errorf("the torn tail was not logged: %v", logs.All())
			}
			appendRange(t, q, 10, 12)
			want := append(seqRange(0, tc.kept), 10, 11)
			recs := expectMsgs(t, q, want...)
			if got := recs[tc.kept].Seq; got != uint64(tc.kept+1) {
				t.Errorf("seq after the cut = %d, want %d", got, tc.kept+1)
			}
			q.Close()

			q = openQ(t, dir, Options{}) // the repair is durable: nothing to cut again
			if s := q.Stats(); s.Corrupt != 0 || s.Depth != int64(tc.kept+2) {
				t.Fatalf("Stats after second reopen = %+v", s)
			}
		})
	}
}

// A segment file whose creation was interrupted (empty, or a partial header) is repaired.
func TestTornSegmentHeader(t *testing.T) {
	for _, size := range []int64{0, 5} {
		t.Run(strconv.FormatInt(size, 10), func(t *testing.T) {
			dir := t.TempDir()
			q := openQ(t, dir, Options{MaxBytes: 1 << 20, SegmentBytes: 1 << 10})
			appendRange(t, q, 0, 3)
			q.Close()
			path := dir + "/" + segName(4)
			if err := os.WriteFile(path, []byte(segMagic)[:size], 0o640); err != nil {
				t.Fatal(err)
			}
			q = openQ(t, dir, Options{MaxBytes: 1 << 20, SegmentBytes: 1 << 10})
			appendRange(t, q, 3, 5)
			recs := expectMsgs(t, q, 0, 1, 2, 3, 4)
			if recs[4].Seq != 5 {
				t.Fatalf("seq %d, want 5", recs[4].Seq)
			}
		})
	}
}

func tear(t *testing.T, path string, cut int64, garbage []byte) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()-cut); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(garbage); err != nil {
		t.Fatal(err)
	}
}

// A flipped byte in an older segment is caught by the checksum: only the damaged record is
// lost (counted and logged once), the intact records after it in the same segment and the
// next segments are delivered, in order. A damaged segment header costs nothing.
func TestCorruptMiddle(t *testing.T) {
	for _, tc := range []struct {
		name string
		off  func(size int64) int64
		lost uint64
	}{
		{name: "record body", off: func(size int64) int64 { return size / 2 }, lost: 1},
		{name: "segment header", off: func(int64) int64 { return 3 }, lost: 0},
		{name: "length field", off: func(int64) int64 { return segHeaderSize + 1 }, lost: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			o := Options{MaxBytes: 1 << 20, SegmentBytes: 1 << 10}
			q := openQ(t, dir, o)
			appendRange(t, q, 0, 100)
			q.Close()
			segs := segFiles(t, dir)
			second := segs[1]
			fi, _ := os.Stat(second)
			flipByte(t, second, tc.off(fi.Size()))

			logger, logs := observedLogger()
			q = openQ(t, dir, Options{MaxBytes: o.MaxBytes, SegmentBytes: o.SegmentBytes, Logger: logger})
			var got []uint64
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				r, err := q.Next(ctx)
				cancel()
				if err != nil {
					break
				}
				got = append(got, r.Seq)
				q.Ack(r.Seq)
			}
			s := q.Stats()
			if lost := 100 - uint64(len(got)); s.Corrupt != tc.lost || lost != tc.lost || s.Depth != 0 {
				t.Fatalf("got %d of 100 records, stats %+v; want exactly %d lost and counted", len(got), s, tc.lost)
			}
			for i, seq := range got {
				if i > 0 && seq <= got[i-1] {
					t.Fatalf("out of order: %v", got)
				}
			}
			if got[len(got)-1] != 100 || got[0] != 1 {
				t.Fatalf("got %v; want 1..100 minus the damaged record", got)
			}
			if n := logs.FilterMessageSnippet("damaged").Len(); n != 1 {
				t.Errorf("damage logged %d times, want once: %v", n, logs.All())
			}
		})
	}
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x5a
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// The ack file keeps two slots; a torn or garbled newest slot falls back to the other one.
func TestAckFileSlots(t *testing.T) {
	dir := t.TempDir()
	q := openQ(t, dir, Options{})
	appendRange(t, q, 0, 10)
	for _, r := range expectMsgs(t, q, seqRange(0, 10)...) {
		q.Ack(r.Seq)
		if r.Seq == 4 || r.Seq == 7 {
			waitPersisted(t, q, r.Seq)
		}
	}
	waitPersisted(t, q, 10)
	q.Close()

	a, st, err := openAckFile(mustOpen(t, dir))
	if head := st.head; err != nil || head != 10 {
		t.Fatalf("ack file head = %d, %v; want 10", st.head, err)
	}
	newest := int64(0)
	if a.next == 0 {
		newest = ackSlot1Off
	}
	a.f.Close()
	flipByte(t, dir+"/"+ackFileName, newest+3)
	a, st, err = openAckFile(mustOpen(t, dir))
	if head := st.head; err != nil || head == 0 || head >= 10 || !a.garbled {
		t.Fatalf("head after a garbled slot = %d (garbled %v), %v; want the older slot's value", st.head, a != nil && a.garbled, err)
	}
	a.f.Close()
	// The fully acknowledged segment is gone, so the queue moves the head past it.
	q = openQ(t, dir, Options{})
	if h := q.Stats().Head; h != 10 {
		t.Fatalf("queue head after a garbled slot = %d; want 10 (nothing left to resend)", h)
	}
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// waitPersisted waits until the persister wrote head (it runs off the Ack path).
func waitPersisted(t *testing.T, q *Queue, head uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, st, err := openAckFile(q.dirf)
		if err == nil && st.head >= head {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ack file head %d (err %v), want %d", st.head, err, head)
		}
		time.Sleep(time.Millisecond)
	}
}

const crashChildEnv = "THINGD_QUEUE_CRASH_CHILD"

// crashChild is the process TestKill9 kills: producers append as fast as they can and
// print "A <producer> <n>" after each Append returned nil; a consumer prints "K <payload>"
// after each Ack.
func crashChild(dir string) {
	q, err := Open(dir, Options{MaxBytes: 256 << 20, SegmentBytes: 64 << 10})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	say := func(format string, args ...any) {
		mu.Lock()
		fmt.Fprintf(out, format, args...)
		out.Flush()
		mu.Unlock()
	}
	for p := range 4 {
		go func() {
			for i := 0; ; i++ {
				m := Message{Topic: "crash", Payload: fmt.Appendf(nil, "%d %d", p, i), QoS: 1}
				if err := q.Append(context.Background(), m); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(4)
				}
				say("A %d %d\n", p, i)
			}
		}()
	}
	// Acks go in reverse within windows of 16, like PUBACKs racing each other; each is
	// reported before it is made, so a kill in between errs on the side of "not acked".
	// Every 64th record is held back for three more of them (about 190 records), like a
	// lost PUBACK answered only after a reconnect: the head stays behind it meanwhile.
	var window, held []Record
	ack := func(r Record) {
		say("K %s\n", r.Payload)
		q.Ack(r.Seq)
	}
	for n := 1; ; n++ {
		r, err := q.Next(context.Background())
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(5)
		}
		if n%64 == 0 {
			held = append(held, r)
			continue
		}
		if window = append(window, r); len(window) < 16 {
			continue
		}
		for i := len(window) - 1; i >= 0; i-- {
			ack(window[i])
		}
		window = window[:0]
		if len(held) > 3 {
			ack(held[0])
			held = held[1:]
		}
		time.Sleep(5 * time.Millisecond) // let a backlog build up
	}
}

// kill -9 in the middle of appends and acks: after reopen, every message whose Append had
// returned nil is either still queued or was acknowledged, each producer's messages are
// in order, and messages acknowledged before the kill come back only within a small window,
// even those acknowledged above a record held back for long (the ack file's holes).
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd, stdout := startChild(t, dir)
	appended := map[string]bool{}
	acked := map[string]bool{}
	note := func(line string) {
		switch kind, rest, _ := strings.Cut(line, " "); kind {
		case "A":
			appended[rest] = true
		case "K":
			acked[rest] = true
		}
	}
	sc := bufio.NewScanner(stdout)
	for len(appended) < 3000 && sc.Scan() {
		note(sc.Text())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Read what the child wrote before it died up to EOF, and only then Wait: Wait closes
	// the pipe, and reports still in it would make acknowledged messages look lost.
	for sc.Scan() {
		note(sc.Text())
	}
	cmd.Wait()
	if len(appended) < 3000 {
		t.Fatalf("the child reported only %d appends", len(appended))
	}

	q := openQ(t, dir, Options{MaxBytes: 256 << 20, SegmentBytes: 64 << 10})
	present := map[string]bool{}
	last := map[string]int{}
	// Read exactly what the queue says it holds: a slow Next on a loaded machine must not
	// end the count early.
	for range q.Stats().Depth {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		r, err := q.Next(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		p, n, _ := strings.Cut(string(r.Payload), " ")
		i, _ := strconv.Atoi(n)
		if prev, ok := last[p]; ok && i <= prev {
			t.Fatalf("producer %s: message %d after %d", p, i, prev)
		}
		last[p] = i
		present[string(r.Payload)] = true
	}
	missing, redelivered := 0, 0
	var lost []string
	for m := range appended {
		if !present[m] && !acked[m] {
			missing++
			lost = append(lost, m)
		}
	}
	if missing > 0 {
		sort.Strings(lost)
		t.Logf("missing (first 20): %v; last present per producer %v", lost[:min(len(lost), 20)], last)
	}
	for m := range acked {
		if present[m] {
			redelivered++
		}
	}
	t.Logf("appended %d, acked %d, queued after reopen %d, acked but redelivered %d, corrupt %d",
		len(appended), len(acked), len(present), redelivered, q.Stats().Corrupt)
	if missing > 0 {
		t.Fatalf("%d messages whose Append returned nil are gone", missing)
	}
	if redelivered > 100 {
		t.Errorf("%d acknowledged messages came back; want only the few in flight at the kill", redelivered)
	}
}

// startChild re-executes the test binary as crashChild. Under qemu-user without binfmt
// the binary cannot exec itself, so it goes through qemu-arm-static explicitly.
func startChild(t *testing.T, dir string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, argv := range [][]string{{self}, {"qemu-arm-static", self}} {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		err = cmd.Start()
		if errors.Is(err, syscall.ENOEXEC) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
		return cmd, bufio.NewReader(stdout)
	}
	t.Skip("cannot re-execute the test binary here")
	return nil, nil
}
