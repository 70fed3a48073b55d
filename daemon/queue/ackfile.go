package queue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// The ack file holds the durable head: every record with seq <= head is acknowledged.
// It has two 16-byte slots in different disk sectors, written in turn with pwrite and no
// fsync: a kill -9 keeps the page cache, and after a power cut a stale or torn slot only
// makes acknowledged records be published again (at least once), never lost.
//
//	slot: u64 head | u32 magic | u32 CRC32C of the first 12 bytes
const (
	ackFileName = "ack"
	ackSlotSize = 16
	ackSlot1Off = 512
	ackMagic    = 0x6b614871 // "qHak"
)

type ackFile struct {
	f    *os.File
	next int // slot to write next
	// damaged: the file holds bytes but no valid slot, so the head fell back to 0;
	// garbled: one slot is invalid, so the head may be the older one.
	damaged, garbled bool
}

// openAckFile opens or creates the ack file and returns the newest valid head in it.
func openAckFile(dir *os.File) (*ackFile, uint64, error) {
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
		return nil, 0, err
	}
	a := &ackFile{f: f}
	var head uint64
	valid := false
	for i, off := range []int64{0, ackSlot1Off} {
		var b [ackSlotSize]byte
		if _, err := f.ReadAt(b[:], off); err != nil && err != io.EOF {
			f.Close()
			return nil, 0, fmt.Errorf("read %s: %w", path, err)
		}
		h, ok := decodeAckSlot(b[:])
		if ok && h >= head {
			head, a.next, valid = h, 1-i, true
		}
		if !ok && b != [ackSlotSize]byte{} {
			a.garbled = true
		}
	}
	if st, err := f.Stat(); err == nil && st.Size() > 0 && !valid {
		a.damaged = true
	}
	return a, head, nil
}

func decodeAckSlot(b []byte) (uint64, bool) {
	if binary.LittleEndian.Uint32(b[8:12]) != ackMagic ||
		binary.LittleEndian.Uint32(b[12:16]) != crc32.Checksum(b[:12], castagnoli) {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b[:8]), true
}

func (a *ackFile) write(head uint64) error {
	var b [ackSlotSize]byte
	binary.LittleEndian.PutUint64(b[0:8], head)
	binary.LittleEndian.PutUint32(b[8:12], ackMagic)
	binary.LittleEndian.PutUint32(b[12:16], crc32.Checksum(b[:12], castagnoli))
	off := int64(0)
	if a.next == 1 {
		off = ackSlot1Off
	}
	if _, err := a.f.WriteAt(b[:], off); err != nil {
		return fmt.Errorf("write %s: %w", a.f.Name(), err)
	}
	a.next = 1 - a.next
	return nil
}
