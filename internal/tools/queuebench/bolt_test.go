package queue

import (
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// boltQueue is the design the segment log is compared with: one bbolt B+tree keyed by
// big-endian seq. Appends use db.Batch (bbolt's own group commit); acks are deleted in
// batches of boltAckBatch per transaction. Only what the benchmarks need.
type boltQueue struct {
	db      *bolt.DB
	mu      sync.Mutex
	read    uint64   // last seq handed out
	pending [][]byte // acked keys not yet deleted
}

const boltAckBatch = 64

var boltBucket = []byte("q")

func openBolt(dir string) (*boltQueue, error) {
	db, err := bolt.Open(filepath.Join(dir, "queue.db"), 0o600, &bolt.Options{Timeout: time.Second, NoFreelistSync: true})
	if err != nil {
		return nil, err
	}
	db.MaxBatchDelay = time.Millisecond
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(boltBucket)
		return err
	})
	return &boltQueue{db: db}, err
}

func (q *boltQueue) Append(_ context.Context, msgs ...Message) error {
	return q.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(boltBucket)
		for i := range msgs {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			if err := b.Put(binary.BigEndian.AppendUint64(nil, seq), appendRecord(nil, seq, msgs[i].Time.UnixNano(), &msgs[i])); err != nil {
				return err
			}
		}
		return nil
	})
}

func (q *boltQueue) Next(context.Context) (Record, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var rec Record
	err := q.db.View(func(tx *bolt.Tx) error {
		k, v := tx.Bucket(boltBucket).Cursor().Seek(binary.BigEndian.AppendUint64(nil, q.read+1))
		if k == nil {
			return errors.New("bolt queue is empty")
		}
		var err error
		rec, err = decodeRecord(v)
		rec.Seq = binary.BigEndian.Uint64(k)
		return err
	})
	if err == nil {
		q.read = rec.Seq
	}
	return rec, err
}

func (q *boltQueue) Ack(seq uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pending = append(q.pending, binary.BigEndian.AppendUint64(nil, seq))
	if len(q.pending) >= boltAckBatch {
		q.flushAcks()
	}
}

func (q *boltQueue) flushAcks() {
	q.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(boltBucket)
		for _, k := range q.pending {
			b.Delete(k)
		}
		return nil
	})
	q.pending = q.pending[:0]
}

func (q *boltQueue) Close() error {
	q.mu.Lock()
	q.flushAcks()
	q.mu.Unlock()
	return q.db.Close()
}
