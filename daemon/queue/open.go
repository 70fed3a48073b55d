package queue

import (
	"errors"
	"fmt"
	"math"
	"os"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// Open opens the queue in dir, creating the directory (0750) when missing. Start-up
// repairs what a crash can leave behind (a torn record at the tail is logged, counted and
// cut off) and never fails because of it. Only one Queue may have dir open at a time.
func Open(dir string, o Options) (*Queue, error) {
	o, err := o.resolve()
	if err != nil {
		return nil, fmt.Errorf("open queue %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("open queue %s: %w (check the queue.dir setting and the directory's owner)", dir, err)
	}
	dirf, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("open queue %s: %w", dir, err)
	}
	if err := unix.Flock(int(dirf.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		dirf.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("open queue %s: another process is using it (is a second thingd running?)", dir)
		}
		return nil, fmt.Errorf("open queue %s: lock: %w", dir, err)
	}
	q := &Queue{
		dir: dir, o: o, dirf: dirf,
		log:         o.Logger.With(zap.String("component", "queue"), zap.String("dir", dir)),
		reqs:        make(chan *appendReq, 256),
		ackKick:     make(chan struct{}, 1),
		rollKick:    make(chan struct{}, 1),
		quit:        make(chan struct{}),
		writerDone:  make(chan struct{}),
		persistDone: make(chan struct{}),
		notify:      make(chan struct{}),
	}
	if err := q.load(); err != nil {
		q.w.close()
		if q.ack != nil {
			q.ack.f.Close()
		}
		dirf.Close()
		return nil, fmt.Errorf("open queue %s: %w", dir, err)
	}
	q.log.Info("queue opened", zap.Int64("depth", q.depth), zap.Int64("bytes", q.bytes),
		zap.Int("segments", len(q.segs)), zap.Uint64("head", q.head), zap.Uint64("next_seq", q.w.next))
	go q.writeLoop()
	go q.persistLoop()
	return q, nil
}

// load rebuilds the in-memory state from the directory: the ack head, the segment list,
// the tail of the last segment, and the reader's position.
func (q *Queue) load() error {
	ack, st, err := openAckFile(q.dirf)
	if err != nil {
		return err
	}
	head := st.head
	q.ack, q.head, q.persisted, q.pre, q.delivered, q.scanned = ack, head, st, st, head, head
	q.loadLosses()
	q.lossesSaved = q.lostBefore
	if ack.damaged {
		q.log.Error("queue: the ack file is damaged; every message still on disk will be sent again (duplicates, no loss)",
			zap.String("file", ack.f.Name()))
	}
	segs, err := listSegments(q.dir)
	if err != nil {
		return err
	}
	// The head is saved before a segment is deleted, so records between the head and the
	// oldest segment mean a segment file went missing (or the ack file fell behind).
	if len(segs) > 0 && segs[0].first > head+1 {
		gap := segs[0].first - 1 - head
		if ack.damaged || ack.garbled {
			q.log.Warn("queue: the ack file fell behind the oldest segment; the messages in between were delivered before",
				zap.String("ack_file", ack.f.Name()), zap.String("file", segs[0].path), zap.Uint64("gap", gap))
		} else {
			q.corrupt += gap
			q.log.Error("queue: the oldest segment is missing; these messages are lost",
				zap.String("file", segs[0].path), zap.String("ack_file", ack.f.Name()), zap.Uint64("lost", gap),
				zap.Uint64("first_lost_seq", head+1), zap.Uint64("head", head))
		}
		// Move the head over the gap and save it, so the gap is counted once, not at
		// every start.
		head = segs[0].first - 1
		q.head, q.delivered, q.scanned = head, head, head
		q.pre = q.pre.after(head)
		if err := ack.write(q.pre); err == nil {
			q.persisted = q.pre
		}
	}
	vouched := max(head, ack.vouched)
	if len(segs) > 0 {
		last := segs[len(segs)-1]
		if q.w.f, err = q.recoverTail(last); err != nil {
			return err
		}
		for i := range len(segs) - 1 {
			segs[i].last, segs[i].sealed = segs[i+1].first-1, true
		}
		// A head beyond the last record (possible only if the disk lost fsynced data) must
		// never be reused as a seq: start a fresh segment after it. The same for a seq the
		// ack file vouches for above the head (a damaged tail cut off below it).
		if last.last < vouched {
			q.w.close()
			if last.last < last.first {
				segs = segs[:len(segs)-1]
				if err := os.Remove(last.path); err != nil {
					return err
				}
			} else {
				last.sealed = true
			}
		}
	}
	if len(segs) == 0 || segs[len(segs)-1].sealed {
		s, f, err := createSegment(q.dirf, max(vouched+1, 1))
		if err != nil {
			return err
		}
		segs, q.w.f = append(segs, s), f
	}
	// Fully acknowledged segments whose deletion a crash interrupted.
	for len(segs) > 1 && segs[0].last <= head {
		if err := os.Remove(segs[0].path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		segs = segs[1:]
	}
	for _, s := range segs {
		q.bytes += s.size
		q.depth += countIn(max(head, s.first-1), s.last)
	}
	q.segs = segs
	q.w.active = segs[len(segs)-1]
	q.w.next = q.w.active.last + 1
	q.w.segBytes = q.o.SegmentBytes
	q.cur.seg = segs[0]
	q.cur.skipAcked(head)
	q.saveLossesLocked() // losses found at start-up survive a crash right after
	return nil
}

// recoverTail checks the last segment up to its last intact record and cuts off anything
// after it: a torn write from a crash, or garbage. It returns the file open for writing.
func (q *Queue) recoverTail(s *segment) (*os.File, error) {
	f, err := os.OpenFile(s.path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	r := newFileReader(f)
	off, next := int64(0), s.first
	var cause error
	if cause = r.header(s.first, s.size); cause == nil {
		off = segHeaderSize
		for off < s.size {
			seq, n, err := r.check(off, s.size)
			if err == nil && seq != next {
				err = fmt.Errorf("%w: seq %d where %d was expected", errCorrupt, seq, next)
			}
			if err != nil {
				// Damaged bytes with intact records behind them are kept: the reader skips
				// them, and counts and reports what they cost when it gets there. Only a
				// tail with nothing intact after it (a torn write) is cut.
				at, seq, ok := r.resync(off+1, s.size, next, math.MaxUint64)
				if !ok {
					cause = err
					break
				}
				q.log.Warn("queue: damaged bytes inside the last segment; the intact records after them are kept",
					zap.String("file", s.path), zap.Int64("offset", off), zap.Int64("bytes_skipped", at-off),
					zap.Uint64("next_intact_seq", seq), zap.Error(err))
				off, next = at, seq
				continue
			}
			off, next = off+n, next+1
		}
	}
	if off < s.size || off < segHeaderSize {
		if cause != nil && !errors.Is(cause, errCorrupt) && !errors.Is(cause, errIncomplete) {
			f.Close()
			return nil, cause
		}
		if s.size > 0 { // an empty file is a segment whose creation a crash interrupted
			q.corrupt++
		}
		// resync found nothing intact after the bad bytes, which is what a torn write leaves.
		q.log.Warn("queue: cut a torn tail off the last segment; messages whose append had returned are not affected",
			zap.String("file", s.path), zap.Int64("offset", off), zap.Int64("bytes_cut", s.size-off), zap.Error(cause))
		if err := f.Truncate(off); err != nil {
			f.Close()
			return nil, fmt.Errorf("truncate %s: %w", s.path, err)
		}
		if off < segHeaderSize {
			if _, err := f.WriteAt(segHeader(s.first), 0); err != nil {
				f.Close()
				return nil, fmt.Errorf("write %s: %w", s.path, err)
			}
			off = segHeaderSize
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("fsync %s: %w", s.path, err)
		}
	}
	s.size, s.last = off, next-1
	return f, nil
}
