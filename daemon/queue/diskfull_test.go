package queue

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// smallDisk mounts a tmpfs of size bytes for the test, or skips when it cannot (not root).
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a small tmpfs (%v); needs root", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, 0) })
	return dir
}

// TestDiskFullRecoversOnceDelivered fills a 1 MiB filesystem until appends fail, delivers
// everything, and checks the space comes back: the active segment, which would only roll
// at the segment size, is rolled and deleted once fully acknowledged.
func TestDiskFullRecoversOnceDelivered(t *testing.T) {
	dir := smallDisk(t, "1m")
	q := openQ(t, dir, Options{MaxBytes: 64 << 20})
	payload := []byte(strings.Repeat("x", 16<<10))
	n := 0
	for ; ; n++ {
		err := q.Append(context.Background(), Message{Topic: "dt/t", Payload: payload, QoS: 1, Time: testTime})
		if err != nil {
			if !errors.Is(err, unix.ENOSPC) {
				t.Fatalf("append %d failed, but not with ENOSPC: %v", n, err)
			}
			break
		}
		if n > 1000 {
			t.Fatal("a 1 MiB filesystem took more than 16 MiB")
		}
	}
	if n == 0 {
		t.Fatal("nothing fitted")
	}
	for range n {
		q.Ack(next(t, q).Seq)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := q.Append(context.Background(), Message{Topic: "dt/t", Payload: payload, QoS: 1, Time: testTime})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			var st unix.Statfs_t
			unix.Statfs(dir, &st)
			t.Fatalf("after delivering all %d messages the queue still cannot append (%v); %d bytes free, files %v, stats %+v",
				n, err, st.Bavail*uint64(st.Bsize), segFiles(t, dir), q.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r := next(t, q); r.Seq != uint64(n+1) {
		t.Fatalf("after the refill got seq %d, want %d", r.Seq, n+1)
	}
}

// TestDeliveredActiveSegmentIsDeleted is the same promise on any filesystem: once every
// record is acknowledged, the queue's bytes on disk return to one empty segment.
func TestDeliveredActiveSegmentIsDeleted(t *testing.T) {
	dir := t.TempDir()
	q := openQ(t, dir, Options{})
	appendRange(t, q, 0, 100)
	for range 100 {
		q.Ack(next(t, q).Seq)
	}
	deadline := time.Now().Add(10 * time.Second)
	for q.Stats().Bytes != segHeaderSize {
		if time.Now().After(deadline) {
			t.Fatalf("delivered queue still holds %d bytes in %v", q.Stats().Bytes, segFiles(t, dir))
		}
		time.Sleep(10 * time.Millisecond)
	}
	var total int64
	for _, f := range segFiles(t, dir) {
		fi, err := os.Stat(f)
		if err != nil {
			continue
		}
		total += fi.Size()
	}
	if total != segHeaderSize {
		t.Fatalf("segment files hold %d bytes, want one empty segment", total)
	}
	appendRange(t, q, 100, 101)
	if r := next(t, q); r.Seq != 101 {
		t.Fatalf("got seq %d after the roll, want 101", r.Seq)
	}
}
