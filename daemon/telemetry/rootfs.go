package telemetry

import (
	"errors"
	"fmt"
	"io/fs"
	"math"

	"golang.org/x/sys/unix"
)

// FSStat is what the rootfs collector needs from statfs(2), in bytes.
type FSStat struct {
	Size  uint64 // all data blocks
	Free  uint64 // free blocks, including those reserved for root
	Avail uint64 // free blocks an unprivileged user may use
}

// StatFS reports on the file system holding path. SysStatFS is the real one; tests pass a fake,
// since a fixture directory lives on the test machine's disk, not on a Pi's SD card.
type StatFS func(path string) (FSStat, error)

// SysStatFS calls statfs(2).
func SysStatFS(path string) (FSStat, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return FSStat{}, &fs.PathError{Op: "statfs", Path: path, Err: err}
	}
	// Block counts are in fragment-size units (f_frsize); kernels before 2.6 left it 0.
	bs := uint64(st.Frsize)
	if bs == 0 {
		bs = uint64(st.Bsize)
	}
	return FSStat{Size: st.Blocks * bs, Free: st.Bfree * bs, Avail: st.Bavail * bs}, nil
}

// Filesystem is the use of the root file system, counted the way df(1) counts it.
type Filesystem struct {
	SizeBytes   uint64  `json:"size_bytes"`
	UsedBytes   uint64  `json:"used_bytes"`
	AvailBytes  uint64  `json:"avail_bytes"`
	UsedPercent float64 `json:"used_percent"` // of the space usable by non-root, like df's Use%
}

func collectRootFS(s source) (any, error) {
	st, err := s.statfs(s.root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	f, err := fsUsage(st)
	if err != nil {
		return nil, fmt.Errorf("statfs %s: %w", s.root, err)
	}
	return f, nil
}

// fsUsage turns statfs numbers into df's view; Use% leaves out the blocks reserved for root.
func fsUsage(st FSStat) (Filesystem, error) {
	if st.Free > st.Size || st.Avail > st.Free {
		return Filesystem{}, fmt.Errorf("inconsistent numbers: size %d, free %d, avail %d bytes", st.Size, st.Free, st.Avail)
	}
	f := Filesystem{SizeBytes: st.Size, UsedBytes: st.Size - st.Free, AvailBytes: st.Avail}
	if usable := f.UsedBytes + f.AvailBytes; usable > 0 {
		f.UsedPercent = math.Round(float64(f.UsedBytes)/float64(usable)*1000) / 10
	}
	return f, nil
}
