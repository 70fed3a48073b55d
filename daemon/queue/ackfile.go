package queue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
)

// The ack file holds the durable acknowledgement state: the head (every record with
// seq <= head is acknowledged) and, when PUBACKs came out of order, the records
// acknowledged above it. It has two slots in different disk sectors, written in turn with
// pwrite and no fsync: a kill -9 keeps the page cache, and after a power cut a stale or
// torn slot only makes acknowledged records be published again (at least once), never
// lost. Every valid slot is a true past state, because a record once acknowledged stays
// so; on open the one further ahead is taken.
//
// Two slot layouts, told apart by their magic:
//
//	v1: u64 head | u32 ackMagic | u32 CRC32C of the first 12 bytes
//	v2: u64 head | u32 ackMagic2 | u32 n | u64 top | n × u32 (hole - head) | u32 CRC32C of all before it
//
// v2 says: every seq in (head, top] is acknowledged except the n holes. Only v2 is
// written; v1 is read so that a queue from an older thingd opens as it was.
const (
	ackFileName = "ack"
	ackSlotV1   = 16
	ackSlotMax  = 512 // a slot never crosses a sector boundary
	ackSlot1Off = 512
	ackMagic    = 0x6b614871 // "qHak"
	ackMagic2   = 0x32614871 // "qHa2"
	// MaxAckHoles bounds the holes a slot can hold: 24 + 4n + 4 <= ackSlotMax. The uplink
	// keeps at most 100 publishes open, so more holes than that are rare (a long run of
	// records lost to corruption); the slot then says head only.
	MaxAckHoles = (ackSlotMax - 28) / 4
)

// ackState is what a slot holds. top == head means nothing is known above the head.
type ackState struct {
	head, top uint64
	holes     []uint64 // ascending, each in (head, top)
}

// acked says whether the state records seq as acknowledged.
func (s ackState) acked(seq uint64) bool {
	if seq <= s.head {
		return true
	}
	if seq > s.top {
		return false
	}
	_, hole := binarySearch(s.holes, seq)
	return !hole
}

// ahead counts the seqs in (lo, hi] the state records as acknowledged above its head.
func (s ackState) ahead(lo, hi uint64) uint64 {
	lo, hi = max(lo, s.head), min(hi, s.top)
	if hi <= lo {
		return 0
	}
	n := hi - lo
	for _, h := range s.holes {
		if h > lo && h <= hi {
			n--
		}
	}
	return n
}

// after is the state seen from a head that moved on to head: holes below it are gone.
func (s ackState) after(head uint64) ackState {
	if head >= s.top {
		return ackState{head: head, top: head}
	}
	i, _ := binarySearch(s.holes, head+1)
	return ackState{head: head, top: s.top, holes: s.holes[i:]}
}

func binarySearch(xs []uint64, x uint64) (int, bool) {
	lo, hi := 0, len(xs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if xs[m] < x {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(xs) && xs[lo] == x
}

func (s ackState) equal(o ackState) bool {
	if s.head != o.head || s.top != o.top || len(s.holes) != len(o.holes) {
		return false
	}
	for i := range s.holes {
		if s.holes[i] != o.holes[i] {
			return false
		}
	}
	return true
}

type ackFile struct {
	f    *os.File
	next int // slot to write next
	// damaged: the file holds bytes but no valid slot, so the head fell back to 0;
	// garbled: one slot is invalid, so the state may be the older one.
	damaged, garbled bool
	// vouched is the highest seq either valid slot says is acknowledged: no new record
	// may ever get a seq at or below it, or a slot would count it acknowledged unsent.
	vouched uint64
}

// openAckFile opens or creates the ack file and returns the newest valid state in it.
func openAckFile(dir *os.File) (*ackFile, ackState, error) {
	path := filepath.Join(dir.Name(), ackFileName)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		if f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640); err == nil {
			err = dir.Sync()
		}
	}
	if err != nil {
		if f != nil {
			f.Close()
		}
		return nil, ackState{}, err
	}
	a := &ackFile{f: f}
	var best ackState
	valid := false
	for i, off := range []int64{0, ackSlot1Off} {
		var b [ackSlotMax]byte
		n, err := f.ReadAt(b[:], off)
		if err != nil && err != io.EOF {
			f.Close()
			return nil, ackState{}, fmt.Errorf("read %s: %w", path, err)
		}
		st, ok := decodeAckSlot(b[:n])
		if ok {
			a.vouched = max(a.vouched, st.top)
		}
		if ok && (!valid || st.head > best.head || st.head == best.head && st.top >= best.top) {
			best, a.next, valid = st, 1-i, true
		}
		if !ok && !allZero(b[:n]) {
			a.garbled = true
		}
	}
	if st, err := f.Stat(); err == nil && st.Size() > 0 && !valid {
		a.damaged = true
	}
	return a, best, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func decodeAckSlot(b []byte) (ackState, bool) {
	if len(b) < ackSlotV1 {
		return ackState{}, false
	}
	head := binary.LittleEndian.Uint64(b[:8])
	switch binary.LittleEndian.Uint32(b[8:12]) {
	case ackMagic:
		if binary.LittleEndian.Uint32(b[12:16]) != crc32.Checksum(b[:12], castagnoli) {
			return ackState{}, false
		}
		return ackState{head: head, top: head}, true
	case ackMagic2:
		n32 := binary.LittleEndian.Uint32(b[12:16])
		if n32 > MaxAckHoles { // before int(): on 32-bit ARM a huge n would turn negative
			return ackState{}, false
		}
		n := int(n32)
		if len(b) < 28+4*n {
			return ackState{}, false
		}
		end := 24 + 4*n
		if binary.LittleEndian.Uint32(b[end:end+4]) != crc32.Checksum(b[:end], castagnoli) {
			return ackState{}, false
		}
		st := ackState{head: head, top: binary.LittleEndian.Uint64(b[16:24])}
		if st.top < head {
			return ackState{}, false
		}
		prev := head
		for i := 0; i < n; i++ {
			h := head + uint64(binary.LittleEndian.Uint32(b[24+4*i:]))
			if h <= prev || h >= st.top {
				return ackState{}, false // holes ascend strictly inside (head, top)
			}
			st.holes, prev = append(st.holes, h), h
		}
		return st, true
	}
	return ackState{}, false
}

// encodeAckSlot lays out st as a v2 slot; a state it cannot hold (too many holes, or top
// too far above head for a u32 offset) is written as its head alone, which is still true.
func encodeAckSlot(st ackState) []byte {
	if len(st.holes) > MaxAckHoles || st.top-st.head > math.MaxUint32 {
		st = ackState{head: st.head, top: st.head}
	}
	n := len(st.holes)
	b := make([]byte, 28+4*n)
	binary.LittleEndian.PutUint64(b[0:8], st.head)
	binary.LittleEndian.PutUint32(b[8:12], ackMagic2)
	binary.LittleEndian.PutUint32(b[12:16], uint32(n))
	binary.LittleEndian.PutUint64(b[16:24], st.top)
	for i, h := range st.holes {
		binary.LittleEndian.PutUint32(b[24+4*i:], uint32(h-st.head))
	}
	end := 24 + 4*n
	binary.LittleEndian.PutUint32(b[end:], crc32.Checksum(b[:end], castagnoli))
	return b
}

func (a *ackFile) write(st ackState) error {
	off := int64(0)
	if a.next == 1 {
		off = ackSlot1Off
	}
	if _, err := a.f.WriteAt(encodeAckSlot(st), off); err != nil {
		return fmt.Errorf("write %s: %w", a.f.Name(), err)
	}
	a.next = 1 - a.next
	return nil
}
