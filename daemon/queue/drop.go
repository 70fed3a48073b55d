package queue

import (
	"go.uber.org/zap"
)

// enforceMaxBytes drops the oldest whole segments while the queue is over MaxBytes. Their
// unacknowledged records are counted as dropped and the head jumps past them.
func (q *Queue) enforceMaxBytes() {
	q.mu.Lock()
	var victims []*segment
	var dropped uint64
	for q.bytes > q.o.MaxBytes && len(q.segs) > 1 {
		s := q.removeFirstLocked()
		victims = append(victims, s)
		lo := max(q.head, s.first-1)
		stored := countIn(lo, s.last)
		for _, r := range s.lost { // records already lost to corruption are not counted twice
			stored -= countIn(max(lo, r.from-1), min(s.last, r.to))
		}
		ackedEarly := int64(0) // acknowledged out of order, still counted in depth
		k := 0
		for k < len(q.ring) && q.ring[k].seq <= s.last {
			if q.ring[k].acked {
				ackedEarly++
			}
			k++
		}
		q.ring = q.ring[k:]
		q.early -= ackedEarly
		q.depth -= stored
		// Acknowledged before a restart and not read again yet: gone, but not dropped.
		preAcked := int64(q.pre.ahead(max(lo, q.delivered, q.scanned), s.last))
		dropped += uint64(stored - ackedEarly - preAcked)
		q.head = max(q.head, s.last)
		q.delivered = max(q.delivered, q.head)
		q.pre = q.pre.after(max(q.head, q.pre.head))
		q.advanceLocked()
	}
	if len(victims) > 0 {
		q.dropped += dropped
		q.unlogged += dropped
		q.logDropsLocked(false)
		q.broadcastLocked() // a reader inside a dropped segment moves on
	}
	q.mu.Unlock()
	if len(victims) > 0 {
		q.kickPersister()
		q.removeFiles(victims)
	}
}

// logDropsLocked warns about drops at most once per dropLogEvery, so an outage that keeps
// the queue full logs once per burst instead of once per segment.
func (q *Queue) logDropsLocked(final bool) {
	if q.unlogged == 0 {
		return
	}
	now := q.o.Now()
	if !final && !q.dropLog.IsZero() && now.Sub(q.dropLog) < dropLogEvery {
		return
	}
	q.log.Warn("queue full: dropped the oldest messages (raise queue.max_bytes to keep more)",
		zap.Uint64("dropped", q.unlogged), zap.Uint64("dropped_total", q.dropped), zap.Int64("max_bytes", q.o.MaxBytes))
	q.unlogged, q.dropLog = 0, now
}
