// Package deadletter keeps the messages the broker refused for good (AWS IoT closes the
// connection on a publish its policy denies) so the uplink can move past them: a durable,
// fsynced, bounded log beside the queue, listed, retried and discarded by a person.
package deadletter

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"thingd/internal/atomicfile"
)

// Bounds of the store (documented in docs/deadletter.md). A dead letter is rare and waits for
// a person, so these are small: when a new letter would exceed either, the oldest letters
// are dropped, counted and logged.
const (
	DefaultMaxLetters = 1000
	DefaultMaxBytes   = 8 << 20
)

// DefaultPath is where the store of the queue in queueDir lives: beside it, not inside, so
// the queue never meets a file it does not know.
func DefaultPath(queueDir string) string {
	return filepath.Clean(queueDir) + ".deadletters"
}

// Options configure a Store; zero values mean the defaults.
type Options struct {
	MaxLetters int
	MaxBytes   int64
	Logger     *zap.Logger
}

// Stats are what status shows.
type Stats struct {
	Count   int
	Bytes   int64
	Dropped uint64  // letters dropped to stay within the bounds, since start
	Last    *Letter // the newest letter, nil when there is none
}

// Store is the dead-letter log. Its methods are safe for concurrent use; every change is on
// stable storage when the method returns.
type Store struct {
	path string
	o    Options
	log  *zap.Logger

	mu      sync.Mutex
	letters []Letter // oldest first
	bytes   int64    // file size
	dropped uint64
}

// Open loads the store at path, creating nothing until the first letter. A torn or damaged
// tail (a power cut during an append) is cut off and logged; the letters before it stay.
func Open(path string, o Options) (*Store, error) {
	if o.MaxLetters <= 0 {
		o.MaxLetters = DefaultMaxLetters
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	s := &Store{path: path, o: o, log: o.Logger.With(zap.String("component", "deadletter"))}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read dead letters %s: %w", path, err)
	}
	letters, good, err := parseFile(data)
	if err != nil {
		// Not ours, or its header is damaged: keep it for a person, start a new store, and
		// never let this file keep the device from delivering.
		aside := fmt.Sprintf("%s.bad-%d", path, time.Now().Unix())
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("dead letters %s: %w, and it cannot be moved aside: %w", path, err, rerr)
		}
		s.log.Error("dead-letter file is not readable as one; moved it aside and started a new one",
			zap.String("file", path), zap.String("moved_to", aside), zap.Error(err))
		return s, nil
	}
	s.letters, s.bytes = letters, int64(good)
	if good < len(data) {
		s.log.Warn("dead-letter file ends in a torn or damaged record (power cut during a write?); cutting it off",
			zap.String("file", path), zap.Int("kept_letters", len(letters)), zap.Int("cut_bytes", len(data)-good))
		if good == 0 {
			// Not even the header survived: the next Add writes a whole new file.
			s.bytes = 0
			err = os.Remove(path)
		} else {
			err = truncate(path, int64(good))
		}
		if err != nil {
			return nil, fmt.Errorf("cut the torn tail off %s: %w", path, err)
		}
	}
	return s, nil
}

// parseFile returns the letters of a whole file and the length of its valid prefix. Only a
// file that does not start with our header (or a prefix of it) is an error.
func parseFile(data []byte) ([]Letter, int, error) {
	if len(data) < len(fileMagic) {
		if string(data) == fileMagic[:len(data)] {
			return nil, 0, nil // torn while being created
		}
		return nil, 0, errors.New("not a thingd dead-letter file")
	}
	if string(data[:len(fileMagic)]) != fileMagic {
		return nil, 0, errors.New("not a thingd dead-letter file")
	}
	off := len(fileMagic)
	var letters []Letter
	for off < len(data) {
		l, n, err := parseRecord(data[off:])
		if err != nil {
			break
		}
		letters = append(letters, l)
		off += n
	}
	return letters, off, nil
}

func truncate(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Path is the store's file.
func (s *Store) Path() string { return s.path }

// Add keeps l durably. When l would take the store past its bounds, the oldest letters are
// dropped first (counted and logged). A letter too big for the store on its own is refused.
func (s *Store) Add(l Letter) error {
	if len(l.Reason) > maxReason {
		l.Reason = l.Reason[:maxReason]
	}
	if len(l.Topic) > maxTopic || len(l.Payload) > maxPayload || l.QoS > 1 {
		return fmt.Errorf("dead letter seq %d (%s): topic, payload or QoS out of bounds", l.Seq, l.Topic)
	}
	l.Payload = slices.Clone(l.Payload)
	if l.At.IsZero() {
		l.At = time.Now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.letters {
		if k.Seq == l.Seq && k.Topic == l.Topic {
			// The same queued message again: thingd died after storing it but before the
			// queue's ack of it was on disk, and the restarted uplink refused it anew.
			return nil
		}
	}
	if int64(len(fileMagic)+l.size()) > s.o.MaxBytes {
		return fmt.Errorf("dead letter seq %d (%s) is %d bytes, more than the store's %d", l.Seq, l.Topic, l.size(), s.o.MaxBytes)
	}
	keep := s.letters
	size := s.bytes
	if size == 0 {
		size = int64(len(fileMagic))
	}
	var drop []Letter
	for len(keep) > 0 && (len(keep)+1 > s.o.MaxLetters || size+int64(l.size()) > s.o.MaxBytes) {
		drop = append(drop, keep[0])
		size -= int64(keep[0].size())
		keep = keep[1:]
	}
	if len(drop) == 0 && s.bytes > 0 {
		if err := s.appendLocked(&l); err != nil {
			return err
		}
		s.letters = append(s.letters, l)
		return nil
	}
	next := append(slices.Clone(keep), l)
	if err := s.rewriteLocked(next); err != nil {
		return err
	}
	s.dropped += uint64(len(drop))
	for _, d := range drop {
		s.log.Error("dead-letter store is full: dropped the oldest letter for good",
			zap.Uint64("seq", d.Seq), zap.String("topic", d.Topic), zap.Time("dead_lettered_at", d.At),
			zap.Int("max_letters", s.o.MaxLetters), zap.Int64("max_bytes", s.o.MaxBytes),
			zap.Uint64("dropped_total", s.dropped),
			zap.String("fix", "fix the IoT policy, then `thingd deadletter retry all`, or `thingd deadletter discard`"))
	}
	return nil
}

func (s *Store) appendLocked(l *Letter) error {
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("open dead letters %s: %w", s.path, err)
	}
	rec := appendRecord(nil, l)
	_, err = f.Write(rec)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// A partial record is cut off on the next Open; cut it now so later appends count.
		_ = truncate(s.path, s.bytes)
		return fmt.Errorf("write dead letters %s: %w", s.path, err)
	}
	s.bytes += int64(len(rec))
	return nil
}

// rewriteLocked replaces the file with letters, atomically.
func (s *Store) rewriteLocked(letters []Letter) error {
	buf := []byte(fileMagic)
	for i := range letters {
		buf = appendRecord(buf, &letters[i])
	}
	if err := atomicfile.Write(s.path, buf, 0o600); err != nil {
		return fmt.Errorf("write dead letters: %w", err)
	}
	s.letters, s.bytes = letters, int64(len(buf))
	return nil
}

// List returns every letter, oldest first.
func (s *Store) List() []Letter {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.letters)
}

// Remove takes the letters match selects out of the store and returns them; nothing
// matched is not an error. The caller re-enqueues them first when retrying, so a crash in
// between leaves a duplicate, never a loss.
func (s *Store) Remove(match func(Letter) bool) ([]Letter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keep, gone []Letter
	for _, l := range s.letters {
		if match(l) {
			gone = append(gone, l)
		} else {
			keep = append(keep, l)
		}
	}
	if len(gone) == 0 {
		return nil, nil
	}
	if err := s.rewriteLocked(keep); err != nil {
		return nil, err
	}
	return gone, nil
}

// Stats reports count, size, drops and the newest letter.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Count: len(s.letters), Bytes: s.bytes, Dropped: s.dropped}
	if n := len(s.letters); n > 0 {
		last := s.letters[n-1]
		last.Payload = nil
		st.Last = &last
	}
	return st
}
