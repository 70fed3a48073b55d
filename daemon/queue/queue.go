package queue

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
)

const (
	// DefaultMaxBytes matches the default queue.max_bytes of the configuration.
	DefaultMaxBytes = 64 << 20
	// DefaultSegmentBytes keeps whole-segment deletion fine grained yet rare.
	DefaultSegmentBytes = 8 << 20
	minSegmentBytes     = 1 << 10
	// dropLogEvery rate-limits the "queue full" warning so a long outage logs once per burst.
	dropLogEvery = time.Minute
)

// ErrClosed is returned by Append and Next once Close has been called.
var ErrClosed = errors.New("queue is closed")

// Options tune a Queue; the zero value is usable.
type Options struct {
	// MaxBytes bounds the segment files on disk; when more is needed the oldest whole
	// segments are dropped, counted and logged. 0 means DefaultMaxBytes.
	MaxBytes int64
	// SegmentBytes is the size at which a new segment file is started. 0 means
	// DefaultSegmentBytes; it is lowered to MaxBytes/4 so that dropping stays gradual.
	SegmentBytes int64
	Logger       *zap.Logger
	// Now stamps messages appended with a zero Time and paces the drop warnings.
	Now func() time.Time
}

// Stats is a snapshot of the queue's state and its counters since Open.
type Stats struct {
	Depth    int64 // records stored and not yet acknowledged
	Bytes    int64 // bytes of segment files on disk
	Segments int
	InFlight int // records handed out by Next and not yet acknowledged
	// AckedAhead are records acknowledged while an older one is not: the durable head
	// stops at the older one, so a crash now would publish them again.
	AckedAhead int64
	Head       uint64 // every record with Seq <= Head is acknowledged
	// OldestTime is the enqueue time of the oldest unacknowledged record; zero when empty.
	OldestTime time.Time
	Accepted   uint64 // records appended
	Acked      uint64 // records acknowledged
	Dropped    uint64 // unacknowledged records dropped because the queue was full
	Corrupt    uint64 // records lost to corruption, and torn records cut at start-up
	// CorruptTotal is Corrupt plus the losses of earlier runs (saved in the queue directory).
	CorruptTotal uint64
}

// Queue is a durable FIFO of messages in a directory. Append, Ack, Rewind and Stats may be
// called from any goroutine; Next is meant for one consumer (calls are serialized).
type Queue struct {
	dir  string
	o    Options
	log  *zap.Logger
	dirf *os.File // holds the lock on the directory
	ack  *ackFile

	reqs        chan *appendReq
	ackKick     chan struct{}
	rollKick    chan struct{}
	quit        chan struct{}
	writerDone  chan struct{}
	persistDone chan struct{}

	w         writer    // owned by the writer goroutine
	persisted ackState  // owned by the ack persister
	walked    ackState  // the persister's last walk of the ring; see persistAck
	walkedAt  time.Time // when it was taken

	readMu sync.Mutex
	cur    cursor // seg and off also guarded by mu, for Stats

	mu     sync.Mutex
	closed bool
	segs   []*segment // oldest first; the last one is the active segment
	head   uint64
	ring   []inflight // delivered records above head, by seq
	early  int64      // records in ring acknowledged out of order
	// pre are the records the ack file said were acknowledged above the head at start-up:
	// the reader skips them (once past them, pre is of no more use).
	pre                     ackState
	delivered               uint64 // highest seq ever handed out
	scanned                 uint64 // highest seq the reader went past (read or lost)
	rewind                  bool
	notify                  chan struct{} // closed and replaced when the readable state changes
	depth                   int64
	bytes                   int64
	accepted                uint64
	acked                   uint64
	dropped                 uint64
	corrupt                 uint64
	lostBefore, lossesSaved uint64 // losses of earlier runs; the total last saved
	unlogged                uint64 // drops not yet in a warning
	dropLog                 time.Time
}

// inflight is a record handed out by Next and not yet passed by the head: kept so that
// out-of-order acks and Rewind work without an index of the backlog.
type inflight struct {
	seq   uint64
	seg   *segment
	off   int64
	nanos int64
	acked bool
}

func (o Options) resolve() (Options, error) {
	if o.MaxBytes < 0 || o.SegmentBytes < 0 {
		return o, fmt.Errorf("queue max_bytes %d and segment size %d must not be negative", o.MaxBytes, o.SegmentBytes)
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxBytes < 4*minSegmentBytes {
		return o, fmt.Errorf("queue max_bytes %d is too small; use at least %d", o.MaxBytes, 4*minSegmentBytes)
	}
	if o.SegmentBytes == 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	o.SegmentBytes = max(min(o.SegmentBytes, o.MaxBytes/4), minSegmentBytes)
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

// Stats returns a snapshot. It may read one record from disk to find OldestTime.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	pre := int64(q.pre.ahead(max(q.delivered, q.scanned), q.pre.top)) // acknowledged before a restart, not read again yet
	s := Stats{
		Depth: q.depth - q.early - pre, Bytes: q.bytes, Segments: len(q.segs), InFlight: len(q.ring) - int(q.early), AckedAhead: q.early + pre, Head: q.head,
		Accepted: q.accepted, Acked: q.acked, Dropped: q.dropped, Corrupt: q.corrupt,
		CorruptTotal: q.lostBefore + q.corrupt,
	}
	var peekSeg *segment
	var peekOff, peekLimit int64
	switch {
	case s.Depth <= 0:
	case len(q.ring) > 0:
		s.OldestTime = time.Unix(0, q.ring[0].nanos)
	default:
		peekSeg, peekOff = q.cur.seg, max(q.cur.off, segHeaderSize)
		if peekOff >= peekSeg.size && peekSeg.sealed {
			peekSeg, peekOff = q.segAfterLocked(peekSeg), segHeaderSize
		}
		if peekLimit = peekSeg.size; peekOff >= peekLimit {
			peekSeg = nil
		}
	}
	q.mu.Unlock()
	if peekSeg != nil {
		s.OldestTime = peekTime(peekSeg.path, peekOff, peekLimit)
	}
	return s
}

// peekTime reads the enqueue time of the record at off, or returns the zero Time.
func peekTime(path string, off, limit int64) time.Time {
	f, err := os.Open(path)
	if err != nil {
		return time.Time{}
	}
	defer f.Close()
	rec, _, err := newFileReader(f).record(off, limit)
	if err != nil {
		return time.Time{}
	}
	return rec.Time
}

// Close flushes appends already handed to the queue, persists the ack position and
// releases the directory. Blocked Next and Append calls return ErrClosed.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	q.mu.Unlock()
	close(q.quit)
	<-q.writerDone
	<-q.persistDone

	q.readMu.Lock()
	q.cur.close()
	q.readMu.Unlock()

	q.mu.Lock()
	q.logDropsLocked(true)
	q.saveLossesLocked()
	q.mu.Unlock()
	var errs []error
	if err := q.ack.f.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close queue %s: %w", q.dir, err))
	}
	if err := q.dirf.Close(); err != nil { // also releases the flock
		errs = append(errs, fmt.Errorf("close queue %s: %w", q.dir, err))
	}
	return errors.Join(errs...)
}

// broadcastLocked wakes a waiting Next.
func (q *Queue) broadcastLocked() {
	close(q.notify)
	q.notify = make(chan struct{})
}

// segAfterLocked returns the segment following s (s may have been removed already).
func (q *Queue) segAfterLocked(s *segment) *segment {
	for _, n := range q.segs {
		if n.first > s.first {
			return n
		}
	}
	return q.segs[len(q.segs)-1]
}

// countIn returns how many seqs lie in (lo, hi].
func countIn(lo, hi uint64) int64 {
	if hi <= lo {
		return 0
	}
	return int64(hi - lo)
}
