package queue

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// errIncomplete means the record at the offset does not end before the read limit: the
// end of durable data in the active segment, or a torn or truncated tail.
var errIncomplete = errors.New("incomplete record")

const readBufSize = 64 << 10

// fileReader reads records sequentially from one segment file through a buffer, with
// ReadAt so it never reads past the limit it is given: bytes beyond the durable size of
// the active segment may still be rolled back by the writer and must not be cached.
type fileReader struct {
	f      *os.File
	buf    []byte
	bufOff int64 // file offset of buf[0]
}

func newFileReader(f *os.File) *fileReader {
	return &fileReader{f: f, buf: make([]byte, 0, readBufSize)}
}

// bytes returns n bytes at off, reading at most up to limit.
func (r *fileReader) bytes(off int64, n int, limit int64) ([]byte, error) {
	if off+int64(n) > limit {
		return nil, errIncomplete
	}
	if off >= r.bufOff && off+int64(n) <= r.bufOff+int64(len(r.buf)) {
		i := off - r.bufOff
		return r.buf[i : i+int64(n)], nil
	}
	want := max(n, readBufSize)
	if int64(want) > limit-off {
		want = int(limit - off)
	}
	if cap(r.buf) < want {
		r.buf = make([]byte, 0, want)
	}
	r.buf = r.buf[:want]
	got, err := r.f.ReadAt(r.buf, off)
	r.buf, r.bufOff = r.buf[:got], off
	if got >= n {
		return r.buf[:n], nil
	}
	if err == nil || err == io.EOF {
		return nil, errIncomplete // the file is shorter than its recorded size: truncated
	}
	return nil, fmt.Errorf("read %s at %d: %w", r.f.Name(), off, err)
}

// record reads the record at off; size is its length on disk.
func (r *fileReader) record(off, limit int64) (rec Record, size int64, err error) {
	b, err := r.raw(off, limit)
	if err != nil {
		return Record{}, 0, err
	}
	rec, err = decodeRecord(b)
	n := len(b) - recHeaderSize
	if cap(r.buf) > 4*readBufSize {
		r.buf = make([]byte, 0, readBufSize) // one huge record must not pin its buffer
	}
	return rec, int64(recHeaderSize + n), err
}

// raw returns the bytes of the record at off, valid until the next read.
func (r *fileReader) raw(off, limit int64) ([]byte, error) {
	hdr, err := r.bytes(off, recHeaderSize, limit)
	if err != nil {
		return nil, err
	}
	n, err := bodyLen(hdr)
	if err != nil {
		return nil, err
	}
	return r.bytes(off, recHeaderSize+n, limit)
}

// check verifies the record at off in place and returns its seq and size.
func (r *fileReader) check(off, limit int64) (seq uint64, size int64, err error) {
	b, err := r.raw(off, limit)
	if err != nil {
		return 0, 0, err
	}
	if err := verifyRecord(b); err != nil {
		return 0, 0, err
	}
	return recordSeq(b), int64(len(b)), nil
}

// header checks the segment header.
func (r *fileReader) header(first uint64, limit int64) error {
	h, err := r.bytes(0, segHeaderSize, limit)
	if err != nil {
		return err
	}
	return checkSegHeader(h, first)
}

// resync finds the first intact record at or after off whose seq lies in [lo, hi]: after
// damaged bytes, the records behind them are still good and must not be lost with them. The
// length and seq are checked before the checksum, so a random length field does not make it
// read a megabyte for every byte it moves.
func (r *fileReader) resync(off, limit int64, lo, hi uint64) (at int64, seq uint64, ok bool) {
	for p := off; p+recHeaderSize+recFixedBody <= limit; p++ {
		head, err := r.bytes(p, recHeaderSize+8, limit)
		if err != nil {
			return 0, 0, false
		}
		n, err := bodyLen(head)
		if err != nil || p+recHeaderSize+int64(n) > limit {
			continue
		}
		if s := recordSeq(head); s < lo || s > hi {
			continue
		}
		if s, _, err := r.check(p, limit); err == nil {
			return p, s, true
		}
	}
	return 0, 0, false
}
