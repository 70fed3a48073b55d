package queue

import (
	"errors"
	"os"
	"slices"
	"time"

	"go.uber.org/zap"
)

// Ack acknowledges the record with seq: published and PUBACKed (QoS 1) or written (QoS 0).
// Acks may come in any order; the durable head advances over the contiguous acknowledged
// prefix, and only then are records forgotten. Records acknowledged above the head are
// saved too (the ack file's holes), so a restart does not publish them again. Unknown or
// repeated seqs are ignored.
func (q *Queue) Ack(seq uint64) {
	q.mu.Lock()
	if q.closed || seq <= q.head || seq > q.delivered {
		q.mu.Unlock()
		return
	}
	i, found := q.findLocked(seq)
	if !found || q.ring[i].acked {
		q.mu.Unlock()
		return
	}
	q.ring[i].acked = true
	q.acked++
	q.early++
	q.advanceLocked()
	q.mu.Unlock()
	q.kickPersister()
}

func (q *Queue) findLocked(seq uint64) (int, bool) {
	return slices.BinarySearchFunc(q.ring, seq, func(e inflight, s uint64) int { return cmpUint(e.seq, s) })
}

// advanceLocked moves the head over the acknowledged prefix of the in-flight records.
func (q *Queue) advanceLocked() bool {
	k := 0
	for k < len(q.ring) && q.ring[k].acked {
		k++
	}
	if k == 0 {
		return false
	}
	q.head = q.ring[k-1].seq
	q.depth -= int64(k)
	q.early -= int64(k)
	q.ring = q.ring[k:]
	return true
}

func (q *Queue) kickPersister() {
	select {
	case q.ackKick <- struct{}{}:
	default: // a write is already due; it will take the newest head
	}
}

// persistLoop writes the acknowledgement state to the ack file and deletes fully
// acknowledged segments, off the Ack caller's path; a burst of acks costs one pwrite.
func (q *Queue) persistLoop() {
	defer close(q.persistDone)
	var again <-chan time.Time
	for {
		select {
		case <-q.ackKick:
		case <-again:
		case <-q.quit:
			<-q.writerDone // the writer may still drop segments while it drains
			q.persistAck(true)
			return
		}
		again = nil
		if wait := q.persistAck(false); wait > 0 {
			again = time.After(wait)
		}
	}
}

// walkEvery bounds how often the persister walks the in-flight ring for the records
// acknowledged above the head: while one PUBACK is missing the ring can hold thousands, and
// a walk per ack would cost more than the pwrite. Between walks the last one, seen from the
// newer head, is saved: still true (acks are never taken back), only less complete.
const walkEvery = 10 * time.Millisecond

// aheadLocked is the acknowledgement state of the ring: the head, the highest record
// acknowledged above it and the records below that which are not (unacknowledged, or
// missing from the ring because corruption cost them). It stops at MaxAckHoles holes.
func (q *Queue) aheadLocked() ackState {
	st := ackState{head: q.head, top: q.head}
	var pending []uint64
	next := q.head + 1
	for _, e := range q.ring {
		for ; next < e.seq; next++ {
			if pending = append(pending, next); len(st.holes)+len(pending) > MaxAckHoles {
				return st
			}
		}
		next = e.seq + 1
		if !e.acked {
			if pending = append(pending, e.seq); len(st.holes)+len(pending) > MaxAckHoles {
				return st
			}
			continue
		}
		st.top = e.seq
		st.holes = append(st.holes, pending...)
		pending = pending[:0]
	}
	return st
}

// persistAck saves the acknowledgement state and deletes the segments behind the head.
// It returns how soon it wants to run again: a walk of the ring it put off.
func (q *Queue) persistAck(final bool) time.Duration {
	var wait time.Duration
	q.mu.Lock()
	head := q.head
	st := ackState{head: head, top: head}
	if q.early > 0 {
		// A walk costs about a microsecond per 1000 records on a Pi: at most one per
		// millisecond of ring records keeps it under a few per cent of a core.
		every := max(walkEvery, time.Duration(len(q.ring))*time.Microsecond)
		if since := time.Since(q.walkedAt); final || since >= every {
			q.walked, q.walkedAt = q.aheadLocked(), time.Now()
			st = q.walked
		} else {
			st, wait = q.walked.after(head), every-since
		}
	}
	if pre := q.pre.after(head); pre.top > st.top {
		st = pre // still reading again what a restart found acknowledged
	}
	var done []*segment
	for len(q.segs) > 1 && q.segs[0].last <= head {
		done = append(done, q.removeFirstLocked())
	}
	if a := q.segs[len(q.segs)-1]; len(q.segs) == 1 && a.last >= a.first && a.last <= head {
		select {
		case q.rollKick <- struct{}{}: // the writer rolls, then kicks us to delete it
		default:
		}
	}
	q.mu.Unlock()
	// The head goes to the ack file before the segments go: after a crash in between,
	// the segments are simply found fully acknowledged again.
	if !st.equal(q.persisted) {
		if err := q.ack.write(st); err != nil {
			q.log.Warn("queue: could not save the ack position; acknowledged messages may be sent again after a restart", zap.Error(err))
		} else {
			q.persisted = st
		}
	}
	q.removeFiles(done)
	if len(done) > 0 && q.readMu.TryLock() {
		// No Next is running (a running one closes it itself): the reader's open file of
		// a deleted segment would keep the space in use.
		q.mu.Lock()
		gone := q.cur.fseg != nil && q.cur.fseg.removed
		q.mu.Unlock()
		if gone {
			q.cur.close()
		}
		q.readMu.Unlock()
	}
	return wait
}

// removeFirstLocked takes the oldest segment off the list; the caller deletes its file
// outside the lock.
func (q *Queue) removeFirstLocked() *segment {
	s := q.segs[0]
	q.segs[0] = nil
	q.segs = q.segs[1:]
	s.removed = true
	q.bytes -= s.size
	return s
}

func (q *Queue) removeFiles(segs []*segment) {
	for _, s := range segs {
		if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			q.log.Warn("queue: could not delete a finished segment", zap.String("file", s.path), zap.Error(err))
		}
	}
}
