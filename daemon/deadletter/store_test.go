package deadletter

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func letter(seq uint64) Letter {
	return Letter{Seq: seq, Topic: fmt.Sprintf("dt/pi/%d", seq), QoS: 1, Payload: []byte(fmt.Sprint("payload ", seq)),
		Enqueued: time.Unix(1700000000, int64(seq)), At: time.Unix(1700000100, int64(seq)), Strikes: 3,
		Reason: "the broker closed the connection"}
}

func open(t *testing.T, path string, o Options) *Store {
	t.Helper()
	s, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func seqs(ls []Letter) []uint64 {
	var out []uint64
	for _, l := range ls {
		out = append(out, l.Seq)
	}
	return out
}

// Letters survive a reopen with every field, in order.
func TestAddSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.deadletters")
	s := open(t, path, Options{})
	for i := uint64(1); i <= 3; i++ {
		if err := s.Add(letter(i)); err != nil {
			t.Fatal(err)
		}
	}
	got := open(t, path, Options{}).List()
	if len(got) != 3 {
		t.Fatalf("after reopen %d letters, want 3", len(got))
	}
	for i, l := range got {
		want := letter(uint64(i + 1))
		if l.Seq != want.Seq || l.Topic != want.Topic || !bytes.Equal(l.Payload, want.Payload) || l.QoS != want.QoS ||
			!l.Enqueued.Equal(want.Enqueued) || !l.At.Equal(want.At) || l.Strikes != 3 || l.Reason != want.Reason {
			t.Fatalf("letter %d came back as %+v, want %+v", i, l, want)
		}
	}
	if st := s.Stats(); st.Count != 3 || st.Last == nil || st.Last.Seq != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// A message stored again (thingd died between storing it and the queue's ack reaching the
// disk, so the restarted uplink refused it once more) stays one letter.
func TestAddSameMessageTwiceKeepsOne(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.deadletters")
	s := open(t, path, Options{})
	for range 2 {
		if err := s.Add(letter(7)); err != nil {
			t.Fatal(err)
		}
	}
	if got := seqs(open(t, path, Options{}).List()); len(got) != 1 || got[0] != 7 {
		t.Fatalf("letters after adding seq 7 twice and reopening: %v; want [7]", got)
	}
}

// Power-cut safety: whatever prefix of the last append reached the disk, a reopen keeps
// every earlier letter, ignores the torn one, and later appends are read back too.
func TestTornLastRecordIgnored(t *testing.T) {
	dir := t.TempDir()
	whole := filepath.Join(dir, "whole")
	s := open(t, whole, Options{})
	for i := uint64(1); i <= 3; i++ {
		if err := s.Add(letter(i)); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(whole)
	if err != nil {
		t.Fatal(err)
	}
	last := letter(3).size()
	for cut := 1; cut < last; cut++ {
		path := filepath.Join(dir, fmt.Sprint("cut", cut))
		if err := os.WriteFile(path, data[:len(data)-cut], 0o600); err != nil {
			t.Fatal(err)
		}
		r := open(t, path, Options{})
		if got := seqs(r.List()); len(got) != 2 || got[0] != 1 || got[1] != 2 {
			t.Fatalf("cut %d bytes off the last record: letters %v, want [1 2]", cut, got)
		}
		if err := r.Add(letter(9)); err != nil {
			t.Fatal(err)
		}
		if got := seqs(open(t, path, Options{}).List()); len(got) != 3 || got[2] != 9 {
			t.Fatalf("cut %d: after an append and reopen, letters %v, want [1 2 9]", cut, got)
		}
	}
	// A torn header (the file's first write) is an empty store, not an error.
	path := filepath.Join(dir, "header")
	if err := os.WriteFile(path, []byte(fileMagic[:4]), 0o600); err != nil {
		t.Fatal(err)
	}
	r := open(t, path, Options{})
	if err := r.Add(letter(1)); err != nil {
		t.Fatal(err)
	}
	if got := seqs(open(t, path, Options{}).List()); len(got) != 1 {
		t.Fatalf("letters %v after a torn header and one add", got)
	}
	// A damaged byte in the middle: the letters before it are kept.
	bad := bytes.Clone(data)
	bad[len(fileMagic)+letter(1).size()+10] ^= 0xff
	path = filepath.Join(dir, "flipped")
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := seqs(open(t, path, Options{}).List()); len(got) != 1 || got[0] != 1 {
		t.Fatalf("damaged second record: letters %v, want [1]", got)
	}
}

// A file that is not ours is moved aside (kept for a person) and a new store starts: a bad
// file must never keep the device from delivering.
func TestForeignFileMovedAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x")
	foreign := []byte("hello, this is not a dead-letter file")
	if err := os.WriteFile(path, foreign, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(s.List()); n != 0 {
		t.Fatalf("%d letters from a foreign file", n)
	}
	if err := s.Add(letter(1)); err != nil {
		t.Fatal(err)
	}
	aside, _ := filepath.Glob(path + ".bad-*")
	if len(aside) != 1 {
		t.Fatalf("moved aside: %v", aside)
	}
	if got, _ := os.ReadFile(aside[0]); !bytes.Equal(got, foreign) {
		t.Fatalf("the file moved aside holds %q", got)
	}
	if got := seqs(open(t, path, Options{}).List()); len(got) != 1 {
		t.Fatalf("new store holds %v", got)
	}
}

// The bounds: the oldest letters go first, counted; the file stays within MaxBytes.
func TestBoundedDropsOldest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.deadletters")
	s := open(t, path, Options{MaxLetters: 3})
	for i := uint64(1); i <= 5; i++ {
		if err := s.Add(letter(i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := seqs(open(t, path, Options{}).List()); len(got) != 3 || got[0] != 3 || got[2] != 5 {
		t.Fatalf("letters %v, want [3 4 5]", got)
	}
	if st := s.Stats(); st.Dropped != 2 || st.Count != 3 {
		t.Fatalf("stats %+v, want 2 dropped, 3 kept", st)
	}
	max := int64(len(fileMagic) + 2*letter(1).size())
	b := open(t, filepath.Join(t.TempDir(), "b"), Options{MaxBytes: max})
	for i := uint64(1); i <= 4; i++ {
		if err := b.Add(letter(i)); err != nil {
			t.Fatal(err)
		}
		if st := b.Stats(); st.Bytes > max {
			t.Fatalf("%d bytes, bound %d", st.Bytes, max)
		}
	}
	if got := seqs(b.List()); len(got) != 2 || got[0] != 3 {
		t.Fatalf("letters %v, want [3 4]", got)
	}
	big := letter(7)
	big.Payload = make([]byte, max)
	if err := b.Add(big); err == nil {
		t.Fatal("a letter bigger than the store was accepted")
	}
}

// Remove takes out exactly the matched letters, durably.
func TestRemove(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.deadletters")
	s := open(t, path, Options{})
	for i := uint64(1); i <= 4; i++ {
		if err := s.Add(letter(i)); err != nil {
			t.Fatal(err)
		}
	}
	gone, err := s.Remove(func(l Letter) bool { return l.Seq%2 == 0 })
	if err != nil {
		t.Fatal(err)
	}
	if got := seqs(gone); len(got) != 2 || got[0] != 2 || got[1] != 4 {
		t.Fatalf("removed %v, want [2 4]", got)
	}
	if got := seqs(open(t, path, Options{}).List()); len(got) != 2 || got[0] != 1 || got[1] != 3 {
		t.Fatalf("after reopen %v, want [1 3]", got)
	}
	if err := s.Add(letter(5)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Remove(func(Letter) bool { return true }); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(letter(6)); err != nil {
		t.Fatal(err)
	}
	if got := seqs(open(t, path, Options{}).List()); len(got) != 1 || got[0] != 6 {
		t.Fatalf("after emptying and one add: %v, want [6]", got)
	}
}
