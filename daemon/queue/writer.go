package queue

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"
)

const (
	// maxBatchBytes bounds one group commit so a flood of producers cannot build an
	// unbounded write buffer; whoever does not fit waits for the next fsync.
	maxBatchBytes = 4 << 20
	keepBufBytes  = 1 << 20
	// maxLinger caps how long the writer waits for the producers of the previous batch
	// to come back before it fsyncs (see linger).
	maxLinger = 2 * time.Millisecond
)

// appendReq carries one Append call's records, encoded by the producer (seq and CRC are
// filled in by the writer), so the writer never touches the caller's memory.
type appendReq struct {
	recs  []byte
	count int
	done  chan error
}

// writer is the state of the single writer goroutine.
type writer struct {
	f        *os.File // the active segment's file
	active   *segment
	next     uint64 // seq for the next record
	segBytes int64
	buf      []byte
	broken   error // set when a failed write could not be rolled back

	lastReqs int           // requests in the previous batch
	lastSync time.Duration // how long its fsync took
	syncs    int64         // fsyncs of records, for the benchmarks
	records  int64
	noLinger bool // for the benchmark that shows why linger exists
}

func (w *writer) close() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
}

// Append adds msgs to the queue in order. It returns nil only once they are on stable
// storage (fsynced); producers calling concurrently share one fsync. A message whose
// Append returned an error may still be queued (a retry can then duplicate it).
func (q *Queue) Append(ctx context.Context, msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	size := 0
	for i := range msgs {
		if err := validate(&msgs[i]); err != nil {
			return err
		}
		size += recordSize(&msgs[i])
	}
	if size > maxBatchBytes {
		return fmt.Errorf("queue append of %d bytes in one call is too large; split it below %d", size, maxBatchBytes)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &appendReq{recs: make([]byte, 0, size), count: len(msgs), done: make(chan error, 1)}
	var now int64
	for i := range msgs {
		nanos := msgs[i].Time.UnixNano()
		if msgs[i].Time.IsZero() {
			if now == 0 {
				now = q.o.Now().UnixNano()
			}
			nanos = now
		}
		r.recs = appendRecord(r.recs, 0, nanos, &msgs[i])
	}
	select {
	case q.reqs <- r:
	case <-q.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-q.writerDone:
		select {
		case err := <-r.done:
			return err
		default:
			return ErrClosed
		}
	case <-ctx.Done():
		return fmt.Errorf("queue append abandoned, the messages may still be queued: %w", ctx.Err())
	}
}

// writeLoop is the group commit: it takes every request pending while the previous
// fsync ran, writes them with one write and one fsync, then answers them all.
func (q *Queue) writeLoop() {
	defer close(q.writerDone)
	defer q.w.close()
	batch := make([]*appendReq, 0, 64)
	for {
		select {
		case r := <-q.reqs:
			batch = q.linger(q.gather(append(batch[:0], r), false))
		case <-q.rollKick:
			q.rollIfDone()
			continue
		case <-q.quit:
			// Commit what producers handed over before Close; later ones get ErrClosed.
			if batch = q.gather(batch[:0], true); len(batch) > 0 {
				q.commit(batch)
			}
			return
		}
		q.commit(batch)
		clear(batch)
	}
}

func (q *Queue) gather(batch []*appendReq, all bool) []*appendReq {
	size := 0
	for _, r := range batch {
		size += len(r.recs)
	}
	for all || size < maxBatchBytes {
		select {
		case r := <-q.reqs:
			batch = append(batch, r)
			size += len(r.recs)
		default:
			return batch
		}
	}
	return batch
}

// linger waits a little for as many requests as the previous batch had. Producers
// released by one fsync come back at slightly different times; without the wait the
// first of them would get an fsync of its own while the rest wait for the next one, and
// batches would alternate between small and large. The wait is at most half an fsync.
func (q *Queue) linger(batch []*appendReq) []*appendReq {
	if len(batch) >= q.w.lastReqs || len(q.reqs) > 0 || q.w.noLinger {
		return batch
	}
	timer := time.NewTimer(min(q.w.lastSync/2, maxLinger))
	defer timer.Stop()
	for len(batch) < q.w.lastReqs {
		select {
		case r := <-q.reqs:
			batch = q.gather(append(batch, r), false)
		case <-timer.C:
			return batch
		case <-q.quit:
			return batch
		}
	}
	return batch
}

func (q *Queue) commit(batch []*appendReq) {
	q.w.lastReqs = len(batch)
	err := q.w.broken
	if err == nil {
		if err = q.writeBatch(batch); err != nil {
			q.rollback(err)
		}
	}
	for _, r := range batch {
		r.done <- err
	}
	if cap(q.w.buf) > keepBufBytes {
		q.w.buf = nil
	}
	q.enforceMaxBytes()
}

func (q *Queue) writeBatch(batch []*appendReq) error {
	w := &q.w
	active := w.active
	buf, count := w.buf[:0], 0
	defer func() { w.buf = buf }()
	for _, r := range batch {
		for p := 0; p < len(r.recs); {
			rec := r.recs[p : p+recHeaderSize+int(binary.LittleEndian.Uint32(r.recs[p:]))]
			p += len(rec)
			if (active.last >= active.first || count > 0) && active.size+int64(len(buf)+len(rec)) > w.segBytes {
				if err := q.flush(active, buf, count); err != nil {
					return err
				}
				buf, count = buf[:0], 0
				var err error
				if active, err = q.roll(active); err != nil {
					return err
				}
			}
			binary.LittleEndian.PutUint64(rec[recHeaderSize:], w.next)
			binary.LittleEndian.PutUint32(rec[4:8], checksum(rec))
			buf = append(buf, rec...)
			w.next++
			count++
		}
	}
	return q.flush(active, buf, count)
}

// flush writes buf at the end of the active segment, fsyncs, and only then makes the
// records visible to the reader.
func (q *Queue) flush(active *segment, buf []byte, count int) error {
	if count == 0 {
		return nil
	}
	if _, err := q.w.f.WriteAt(buf, active.size); err != nil {
		return fmt.Errorf("write %s: %w", active.path, err)
	}
	start := time.Now()
	if err := q.w.f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", active.path, err)
	}
	q.w.lastSync = time.Since(start)
	q.w.syncs++
	q.w.records += int64(count)
	q.mu.Lock()
	active.size += int64(len(buf))
	active.last = q.w.next - 1
	q.bytes += int64(len(buf))
	q.depth += int64(count)
	q.accepted += uint64(count)
	q.broadcastLocked()
	q.mu.Unlock()
	return nil
}

// rollIfDone starts a new segment when every record of the active one is acknowledged, so
// that the persister can delete it: otherwise a delivered active segment keeps its space
// until it reaches the segment size, and on a small disk that is full for good.
func (q *Queue) rollIfDone() {
	if q.w.broken != nil {
		return
	}
	q.mu.Lock()
	a := q.w.active
	done := a.last >= a.first && a.last <= q.head
	q.mu.Unlock()
	if !done {
		return
	}
	if _, err := q.roll(a); err != nil {
		q.log.Warn("queue: could not start a new segment to free a delivered one", zap.String("file", a.path), zap.Error(err))
		return
	}
	q.kickPersister()
}

// roll seals the full active segment and starts the next one.
func (q *Queue) roll(old *segment) (*segment, error) {
	s, f, err := createSegment(q.dirf, q.w.next)
	if err != nil {
		os.Remove(filepath.Join(q.dir, segName(q.w.next)))
		return old, err
	}
	q.mu.Lock()
	old.sealed = true
	q.segs = append(q.segs, s)
	q.bytes += s.size
	q.broadcastLocked()
	q.mu.Unlock()
	q.w.f.Close()
	q.w.f, q.w.active = f, s
	return s, nil
}

// rollback cuts the active segment back to its last fsynced size after a failed write:
// after a failed fsync the page cache cannot be trusted, so the bytes are rewritten by
// later appends rather than assumed on disk.
func (q *Queue) rollback(cause error) {
	active := q.w.active
	q.w.next = active.last + 1
	if err := q.w.f.Truncate(active.size); err != nil {
		q.w.broken = fmt.Errorf("queue %s is unusable after a write error (%w); restart thingd and check the disk", q.dir, errors.Join(cause, err))
	}
	q.log.Error("queue write failed; the producers were told", zap.Error(cause))
}
