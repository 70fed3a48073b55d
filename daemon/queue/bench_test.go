package queue

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchQueue is what the benchmarks drive. The comparison with a bbolt B+tree is in the
// tools module (internal/tools/queuebench), so that bbolt is not in thingd's module graph.
type benchQueue interface {
	Append(ctx context.Context, msgs ...Message) error
	Next(ctx context.Context) (Record, error)
	Ack(seq uint64)
	Close() error
}

var designs = []struct {
	name string
	open func(b *testing.B) benchQueue
}{
	{"segment", func(b *testing.B) benchQueue {
		q, err := Open(b.TempDir(), Options{MaxBytes: 1 << 30})
		if err != nil {
			b.Fatal(err)
		}
		return q
	}},
}

// benchMsg is a typical telemetry message: a 21-byte topic and a 100-byte payload.
var benchMsg = Message{Topic: "dt/raspi2-test/system", Payload: make([]byte, 100), QoS: 1, Time: testTime}

func prefill(b *testing.B, q benchQueue, n int) {
	b.Helper()
	batch := make([]Message, 1000)
	for i := range batch {
		batch[i] = benchMsg
	}
	for n > 0 {
		k := min(n, len(batch))
		if err := q.Append(context.Background(), batch[:k]...); err != nil {
			b.Fatal(err)
		}
		n -= k
	}
}

// BenchmarkAppend: fsynced appends of one message each by 1, 8 and 64 concurrent producers.
func BenchmarkAppend(b *testing.B) {
	noLinger := struct {
		name string
		open func(b *testing.B) benchQueue
	}{"segment-nolinger", func(b *testing.B) benchQueue {
		q := designs[0].open(b).(*Queue)
		q.w.noLinger = true // set before any Append, so before the writer reads it
		return q
	}}
	for _, d := range append(designs, noLinger) {
		for _, producers := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("%s/producers=%d", d.name, producers), func(b *testing.B) {
				q := d.open(b)
				defer q.Close()
				var left atomic.Int64
				left.Store(int64(b.N))
				var wg sync.WaitGroup
				b.ResetTimer()
				start, written := time.Now(), diskWrites()
				for range producers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for left.Add(-1) >= 0 {
							if err := q.Append(context.Background(), benchMsg); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msg/s")
				if written >= 0 {
					b.ReportMetric(float64(diskWrites()-written)/float64(b.N), "disk-B/msg")
				}
				if sq, ok := q.(*Queue); ok {
					sq.Close()
					b.ReportMetric(float64(sq.w.records)/float64(sq.w.syncs), "msg/fsync")
				}
			})
		}
	}
}

// BenchmarkDrain: Next and Ack of a queued backlog, as the publisher does.
func BenchmarkDrain(b *testing.B) {
	for _, d := range designs {
		b.Run(d.name, func(b *testing.B) {
			q := d.open(b)
			defer q.Close()
			prefill(b, q, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				r, err := q.Next(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				q.Ack(r.Seq)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msg/s")
		})
	}
}

// BenchmarkBacklog: the steady-state cost of one message (fsynced Append, Next, Ack) behind
// a backlog of 1k, 100k and 1M messages; flat means the cost does not grow with the
// backlog. heap-MiB is the live Go heap with the backlog queued (bbolt's mmap not included).
func BenchmarkBacklog(b *testing.B) {
	for _, d := range designs {
		for _, backlog := range []int{1_000, 100_000, 1_000_000} {
			b.Run(fmt.Sprintf("%s/backlog=%dk", d.name, backlog/1000), func(b *testing.B) {
				q := d.open(b)
				defer q.Close()
				prefill(b, q, backlog)
				heap := liveHeapMiB()
				b.ReportAllocs()
				b.ResetTimer()
				defer func() { b.ReportMetric(heap, "heap-MiB") }()
				for range b.N {
					if err := q.Append(context.Background(), benchMsg); err != nil {
						b.Fatal(err)
					}
					r, err := q.Next(context.Background())
					if err != nil {
						b.Fatal(err)
					}
					q.Ack(r.Seq)
				}
			})
		}
	}
}

// BenchmarkBacklogDrain isolates the backlog's effect from the fsync: Next and Ack only,
// behind 1k, 100k and 1M queued messages.
func BenchmarkBacklogDrain(b *testing.B) {
	for _, d := range designs {
		for _, backlog := range []int{1_000, 100_000, 1_000_000} {
			b.Run(fmt.Sprintf("%s/backlog=%dk", d.name, backlog/1000), func(b *testing.B) {
				q := d.open(b)
				defer q.Close()
				prefill(b, q, backlog+b.N)
				b.ResetTimer()
				for range b.N {
					r, err := q.Next(context.Background())
					if err != nil {
						b.Fatal(err)
					}
					q.Ack(r.Seq)
				}
			})
		}
	}
}

func liveHeapMiB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

// diskWrites returns the bytes this process has caused to be written to storage (pages
// dirtied, counted again each time they are dirtied after a writeback), or -1.
func diskWrites() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}
