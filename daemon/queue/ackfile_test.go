package queue

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// A slot says exactly what was written: head, top and holes come back, and acked() answers
// from them.
func TestAckSlotRoundTrip(t *testing.T) {
	for _, st := range []ackState{
		{head: 0, top: 0},
		{head: 7, top: 7},
		{head: 10, top: 20, holes: []uint64{11, 15, 19}},
		{head: 1 << 40, top: 1<<40 + 5, holes: []uint64{1<<40 + 1}},
	} {
		got, ok := decodeAckSlot(encodeAckSlot(st))
		if !ok || !got.equal(st) {
			t.Fatalf("decode(encode(%+v)) = %+v, %v", st, got, ok)
		}
	}
	st := ackState{head: 10, top: 20, holes: []uint64{11, 15, 19}}
	for seq, want := range map[uint64]bool{9: true, 10: true, 11: false, 12: true, 15: false, 19: false, 20: true, 21: false} {
		if st.acked(seq) != want {
			t.Errorf("acked(%d) = %v; want %v", seq, !want, want)
		}
	}
	if n := st.ahead(10, 20); n != 7 {
		t.Errorf("ahead(10, 20) = %d; want 7 (10 above the head, 3 holes)", n)
	}
	if n := st.ahead(15, 18); n != 3 {
		t.Errorf("ahead(15, 18) = %d; want 3", n)
	}
	if a := st.after(15); a.head != 15 || a.top != 20 || !slices.Equal(a.holes, []uint64{19}) {
		t.Errorf("after(15) = %+v; want head 15, top 20, holes [19]", a)
	}
	if a := st.after(25); a.head != 25 || a.top != 25 || len(a.holes) != 0 {
		t.Errorf("after(25) = %+v; want head 25 and nothing above", a)
	}
}

// A state with more holes than a slot holds is saved as its head alone: less than was
// known, never more.
func TestAckSlotTooManyHoles(t *testing.T) {
	st := ackState{head: 100, top: 100 + 2*MaxAckHoles + 2}
	for i := uint64(0); i <= MaxAckHoles; i++ {
		st.holes = append(st.holes, 101+2*i)
	}
	got, ok := decodeAckSlot(encodeAckSlot(st))
	if !ok || got.head != 100 || got.top != 100 || len(got.holes) != 0 {
		t.Fatalf("decode(encode(%d holes)) = %+v, %v; want head 100 alone", len(st.holes), got, ok)
	}
	if len(encodeAckSlot(ackState{head: 1, top: 1 + MaxAckHoles + 1, holes: seqs(2, MaxAckHoles)})) > ackSlotMax {
		t.Fatalf("a slot with %d holes is longer than %d bytes", MaxAckHoles, ackSlotMax)
	}
}

func seqs(from uint64, n int) []uint64 {
	var out []uint64
	for i := 0; i < n; i++ {
		out = append(out, from+uint64(i))
	}
	return out
}

// An ack file written by an older thingd (16-byte slots, head only) opens with its head.
func TestAckFileV1StillReads(t *testing.T) {
	dir := t.TempDir()
	var b [ackSlotV1]byte
	binary.LittleEndian.PutUint64(b[0:8], 42)
	binary.LittleEndian.PutUint32(b[8:12], ackMagic)
	binary.LittleEndian.PutUint32(b[12:16], crc32.Checksum(b[:12], castagnoli))
	if err := os.WriteFile(filepath.Join(dir, ackFileName), b[:], 0o640); err != nil {
		t.Fatal(err)
	}
	a, st, err := openAckFile(mustOpen(t, dir))
	if err != nil || st.head != 42 || st.top != 42 || a.damaged || a.garbled {
		t.Fatalf("v1 ack file: %+v (damaged %v, garbled %v), %v; want head 42", st, a != nil && a.damaged, a != nil && a.garbled, err)
	}
	a.f.Close()
}

// FuzzAckSlot: whatever bytes a slot holds, decoding never panics, and what it accepts
// is a consistent state that encodes back to a slot saying the same.
func FuzzAckSlot(f *testing.F) {
	f.Add(encodeAckSlot(ackState{head: 10, top: 20, holes: []uint64{11, 15, 19}}))
	f.Add(encodeAckSlot(ackState{head: 3, top: 3}))
	f.Add(make([]byte, ackSlotV1))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, ok := decodeAckSlot(b)
		if !ok {
			return
		}
		if st.top < st.head || !slices.IsSorted(st.holes) {
			t.Fatalf("accepted an inconsistent state %+v", st)
		}
		for _, h := range st.holes {
			if h <= st.head || h >= st.top {
				t.Fatalf("accepted a hole %d outside (%d, %d)", h, st.head, st.top)
			}
		}
		again, ok := decodeAckSlot(encodeAckSlot(st))
		if !ok || !again.equal(st) {
			t.Fatalf("re-encoded %+v came back as %+v, %v", st, again, ok)
		}
	})
}

// payloadOffset is where the payload "message <i>" sits in the segment file at path.
func payloadOffset(t *testing.T, path string, i int) int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Appendf(nil, "message %d", i)
	for off := 0; off+len(want) <= len(data); off++ {
		if string(data[off:off+len(want)]) == string(want) && (off+len(want) == len(data) || data[off+len(want)] < '0' || data[off+len(want)] > '9') {
			return int64(off)
		}
	}
	t.Fatalf("%s holds no %q", path, want)
	return 0
}

// drainAll reads everything Next hands out until it waits, acknowledging it.
func drainAll(t *testing.T, q *Queue) []string {
	t.Helper()
	var got []string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		r, err := q.Next(ctx)
		cancel()
		if err != nil {
			return got
		}
		got = append(got, string(r.Payload))
		q.Ack(r.Seq)
	}
}

// A damaged tail cut off at start-up must not hand its seqs to new records while the ack
// file vouches for them: such a record would be taken for acknowledged and never sent.
func TestNoSeqReuseBelowAckedTop(t *testing.T) {
	dir := t.TempDir()
	o := Options{MaxBytes: 1 << 20, SegmentBytes: 1 << 20}
	q := openQ(t, dir, o)
	appendRange(t, q, 0, 10)
	for _, r := range expectMsgs(t, q, seqRange(0, 10)...) {
		if r.Seq != 1 {
			q.Ack(r.Seq)
		}
	}
	q.Close()
	seg := segFiles(t, dir)[0]
	flipByte(t, seg, payloadOffset(t, seg, 9)) // the last record: cut as a torn tail
	q = openQ(t, dir, o)
	if err := q.Append(context.Background(), msg(100)); err != nil {
		t.Fatal(err)
	}
	got := drainAll(t, q)
	if want := []string{"message 0", "message 100"}; !slices.Equal(got, want) {
		t.Fatalf("after the cut, Next handed out %q; want %q (the unacknowledged one and the new one)", got, want)
	}
}

// Damaged records that the ack file says were acknowledged before the restart were
// delivered: skipping them loses nothing and is not counted as a loss.
func TestDamagedButAckedIsNoLoss(t *testing.T) {
	dir := t.TempDir()
	o := Options{MaxBytes: 1 << 20, SegmentBytes: 1 << 10}
	q := openQ(t, dir, o)
	appendRange(t, q, 0, 60)
	for _, r := range expectMsgs(t, q, seqRange(0, 60)...) {
		if r.Seq != 1 && r.Seq != 50 {
			q.Ack(r.Seq)
		}
	}
	q.Close()
	segs := segFiles(t, dir)
	flipByte(t, segs[1], payloadOffset(t, segs[1], 30)) // acknowledged, in a middle segment
	q = openQ(t, dir, o)
	got := drainAll(t, q)
	if want := []string{"message 0", "message 49"}; !slices.Equal(got, want) {
		t.Fatalf("Next handed out %q; want %q", got, want)
	}
	if s := q.Stats(); s.Corrupt != 0 || s.Depth != 0 || s.AckedAhead != 0 {
		t.Fatalf("Stats = %+v; want nothing counted lost, depth 0", s)
	}
}

// A record the reader skipped as damaged is a hole, not acknowledged: if it reads fine
// after a restart (the damage was a read error), it is handed out then.
func TestSkippedRecordIsAHole(t *testing.T) {
	dir := t.TempDir()
	o := Options{MaxBytes: 1 << 20, SegmentBytes: 1 << 10}
	q := openQ(t, dir, o)
	appendRange(t, q, 0, 60)
	q.Close()
	segs := segFiles(t, dir)
	off := payloadOffset(t, segs[1], 30)
	flipByte(t, segs[1], off)
	q = openQ(t, dir, o)
	expectMsgs(t, q, 0) // not acknowledged: the head stays before the damage
	got := drainAll(t, q)
	if slices.Contains(got, "message 30") || len(got) != 58 {
		t.Fatalf("handed out %d records (%v...); want the 58 after the first but the damaged one", len(got), got[:min(3, len(got))])
	}
	q.Close()
	flipByte(t, segs[1], off) // the damage is gone
	q = openQ(t, dir, o)
	if got := drainAll(t, q); !slices.Equal(got, []string{"message 0", "message 30"}) {
		t.Fatalf("after the restart Next handed out %q; want message 0 (never acknowledged) and message 30 (skipped, not acknowledged)", got)
	}
}
