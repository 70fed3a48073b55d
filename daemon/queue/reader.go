package queue

import (
	"context"
	"errors"
	"fmt"
	"os"

	"go.uber.org/zap"
)

// cursor is the read position: the segment, the offset of the next record in it (0: the
// header is not checked yet) and the open file. seg and off change only with both readMu
// and mu held.
type cursor struct {
	seg  *segment
	off  int64
	fseg *segment // the segment f belongs to
	f    *os.File
	r    *fileReader
}

func (c *cursor) close() {
	if c.f != nil {
		c.f.Close()
		c.f, c.fseg = nil, nil
	}
}

// open makes sure the file of c.seg is open.
func (c *cursor) open() error {
	if c.fseg == c.seg {
		return nil
	}
	c.close()
	f, err := os.Open(c.seg.path)
	if err != nil {
		return err
	}
	c.f, c.fseg = f, c.seg
	if c.r == nil {
		c.r = newFileReader(f)
	} else {
		c.r.f, c.r.buf, c.r.bufOff = f, c.r.buf[:0], 0
	}
	return nil
}

// skipAcked moves the cursor of a freshly opened queue past the records at or below head,
// so that Stats can peek at the oldest unacknowledged record.
func (c *cursor) skipAcked(head uint64) {
	if c.open() != nil || c.r.header(c.seg.first, c.seg.size) != nil {
		return
	}
	c.off = segHeaderSize
	for c.off < c.seg.size {
		rec, n, err := c.r.record(c.off, c.seg.size)
		if err != nil || rec.Seq > head {
			return
		}
		c.off += n
	}
}

// Next returns the next record after the read cursor, in order, blocking until one is
// durably queued or ctx ends. A record is handed out again only after Rewind or a restart
// and until it is acknowledged.
func (q *Queue) Next(ctx context.Context) (Record, error) {
	q.readMu.Lock()
	defer q.readMu.Unlock()
	c := &q.cur
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return Record{}, ErrClosed
		}
		q.fixCursorLocked()
		seg := c.seg
		limit, last, sealed, wait := seg.size, seg.last, seg.sealed, q.notify
		q.mu.Unlock()

		if c.off < limit {
			if rec, ok := q.readOne(seg, limit, last); ok {
				return rec, nil
			}
			continue
		}
		if sealed {
			q.mu.Lock()
			q.loseLocked(seg, c.off, seg.last, errIncomplete) // a segment shorter than its records
			c.seg, c.off = q.segAfterLocked(seg), 0
			q.mu.Unlock()
			continue
		}
		if c.fseg != c.seg {
			c.close() // an open deleted segment would keep its disk space
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return Record{}, ctx.Err()
		case <-q.quit:
			return Record{}, ErrClosed
		}
	}
}

// readOne reads the record at the cursor. ok is false when there was nothing to hand out:
// an acknowledged record skipped, or corruption skipped (then logged and counted).
func (q *Queue) readOne(seg *segment, limit int64, last uint64) (Record, bool) {
	c := &q.cur
	if err := c.open(); err != nil {
		q.mu.Lock()
		if !seg.removed { // removed: a drop raced with us; fixCursorLocked moves on
			q.loseLocked(seg, c.off, last, err)
			c.off = limit
		}
		q.mu.Unlock()
		return Record{}, false
	}
	if c.off < segHeaderSize {
		err := c.r.header(seg.first, limit)
		var at int64
		var seq uint64
		ok := err == nil
		if err != nil {
			at, seq, ok = c.r.resync(segHeaderSize, limit, seg.first, last)
		}
		q.mu.Lock()
		switch {
		case err == nil:
			c.off = segHeaderSize
		case ok && seq == seg.first:
			q.log.Warn("queue: damaged segment header; the records in it are intact and kept",
				zap.String("file", seg.path), zap.Error(err))
			c.off = at
		case ok:
			q.loseLocked(seg, 0, seq-1, err)
			c.off = at
		default:
			q.loseLocked(seg, 0, last, err)
			c.off = limit
		}
		q.mu.Unlock()
		return Record{}, false
	}
	off := c.off
	rec, n, err := c.r.record(off, limit)
	if err == nil && (rec.Seq < seg.first || rec.Seq > last) {
		err = fmt.Errorf("%w: seq %d outside the segment's %d..%d", errCorrupt, rec.Seq, seg.first, last)
	}
	if errors.Is(err, errCorrupt) || errors.Is(err, errIncomplete) {
		// One damaged record must not cost the intact ones behind it: skip to the next
		// record whose length, checksum and seq hold, and lose only what lies between.
		if at, seq, ok := c.r.resync(off+1, limit, seg.first, last); ok {
			q.mu.Lock()
			q.loseLocked(seg, off, seq-1, err)
			c.off = at
			q.mu.Unlock()
			return Record{}, false
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if err != nil {
		// Nothing intact after the bad bytes: the rest of the segment is lost.
		q.loseLocked(seg, off, last, err)
		c.off = limit
		return Record{}, false
	}
	c.off = off + n
	return rec, q.registerLocked(rec, seg, off)
}

// registerLocked notes a record read at off and says whether to hand it out.
func (q *Queue) registerLocked(rec Record, seg *segment, off int64) bool {
	q.scanned = max(q.scanned, rec.Seq)
	if rec.Seq <= q.head {
		return false
	}
	e := inflight{seq: rec.Seq, seg: seg, off: off, nanos: rec.Time.UnixNano()}
	if rec.Seq > q.delivered {
		q.delivered = rec.Seq
		if q.pre.acked(rec.Seq) {
			// Acknowledged before a restart, above a record that was not: kept in the ring
			// as acknowledged so the head passes it, never handed out again.
			e.acked = true
			q.ring = append(q.ring, e)
			q.early++
			if q.delivered >= q.pre.top {
				q.pre = ackState{}
			}
			if q.advanceLocked() {
				q.kickPersister()
			}
			return false
		}
		q.ring = append(q.ring, e)
		return true
	}
	i, found := q.findLocked(rec.Seq)
	if found {
		return !q.ring[i].acked
	}
	q.ring = append(q.ring, inflight{})
	copy(q.ring[i+1:], q.ring[i:])
	q.ring[i] = e
	return true
}

// loseLocked counts and logs the records of seg from the cursor up to last as lost to
// corruption; records the reader went past before (a Rewind) are not counted again.
func (q *Queue) loseLocked(seg *segment, off int64, last uint64, cause error) {
	from := max(q.scanned, q.head, seg.first-1) + 1
	q.scanned = max(q.scanned, last)
	if last < from {
		return
	}
	gone := last - from + 1
	q.depth -= int64(gone)
	seg.lost = append(seg.lost, lostRange{from, last}) // out of depth: a drop must not count them again
	// Records the ack file says were acknowledged before a restart were delivered: damaged
	// now, they are gone but not lost.
	lost := gone - q.pre.ahead(from-1, last)
	if lost == 0 {
		return
	}
	q.corrupt += lost
	if errors.Is(cause, errIncomplete) {
		cause = errors.New("segment ends early")
	}
	q.log.Error("queue: damaged records in a segment, skipped; these messages are lost",
		zap.String("file", seg.path), zap.Int64("offset", off),
		zap.Uint64("lost", lost), zap.Uint64("first_lost_seq", from), zap.Uint64("last_lost_seq", last), zap.Error(cause))
}

// fixCursorLocked applies a pending Rewind and moves off a segment that was dropped.
func (q *Queue) fixCursorLocked() {
	c := &q.cur
	if q.rewind {
		q.rewind = false
		if len(q.ring) > 0 {
			c.seg, c.off = q.ring[0].seg, q.ring[0].off
		}
	}
	if c.seg.removed {
		c.seg, c.off = q.segs[0], 0
	}
}

// Rewind moves the read cursor back to the oldest unacknowledged record, so that Next
// hands out again everything not acknowledged yet (after a reconnect). Records acknowledged
// out of order are not handed out again.
func (q *Queue) Rewind() {
	q.mu.Lock()
	q.rewind = true
	q.broadcastLocked()
	q.mu.Unlock()
}
