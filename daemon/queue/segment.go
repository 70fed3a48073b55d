package queue

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// A segment file starts with a 16-byte header: the magic (which carries the format version)
// and the sequence number of its first record, which is also its name.
const (
	segMagic      = "thingdq1"
	segHeaderSize = 16
	segSuffix     = ".seg"
)

// segment is the only per-segment state kept in memory; records are never indexed.
type segment struct {
	path  string
	first uint64 // seq of the first record, from the name
	last  uint64 // seq of the last durable record; first-1 while empty
	size  int64  // bytes durably written; readers never look past it
	// sealed is set once a newer segment exists: no record is ever added again.
	sealed  bool
	removed bool
	// lost are the seqs found unreadable, so that dropping the segment later does not count
	// those records twice.
	lost []lostRange
}

// lostRange is the seqs from..to, both included.
type lostRange struct{ from, to uint64 }

func segName(first uint64) string { return fmt.Sprintf("%020d%s", first, segSuffix) }

func parseSegName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, segSuffix)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	return n, err == nil && n > 0
}

func segHeader(first uint64) []byte {
	h := make([]byte, 0, segHeaderSize)
	h = append(h, segMagic...)
	return binary.LittleEndian.AppendUint64(h, first)
}

func checkSegHeader(h []byte, first uint64) error {
	if len(h) < segHeaderSize || string(h[:8]) != segMagic {
		return fmt.Errorf("%w: no segment header", errCorrupt)
	}
	if got := binary.LittleEndian.Uint64(h[8:16]); got != first {
		return fmt.Errorf("%w: header names first record %d", errCorrupt, got)
	}
	return nil
}

// listSegments returns the segment files in dir in sequence order, with sizes; other files
// are left alone.
func listSegments(dir string) ([]*segment, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []*segment
	for _, e := range ents {
		first, ok := parseSegName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return nil, err
		}
		segs = append(segs, &segment{path: filepath.Join(dir, e.Name()), first: first, size: fi.Size()})
	}
	slices.SortFunc(segs, func(a, b *segment) int {
		return cmpUint(a.first, b.first)
	})
	return segs, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// createSegment makes a new, empty segment file and makes its name durable, so a sequence
// number handed out afterwards can never be handed out again after a power cut.
func createSegment(dir *os.File, first uint64) (*segment, *os.File, error) {
	path := filepath.Join(dir.Name(), segName(first))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return nil, nil, err
	}
	if _, err := f.WriteAt(segHeader(first), 0); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("fsync %s: %w", path, err)
	}
	if err := dir.Sync(); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("fsync directory %s: %w", dir.Name(), err)
	}
	return &segment{path: path, first: first, last: first - 1, size: segHeaderSize}, f, nil
}
