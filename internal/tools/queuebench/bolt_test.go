package queuebench

import (
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"thingd/daemon/queue"
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

func (q *boltQueue) Append(_ context.Context, msgs ...queue.Message) error {
	return q.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(boltBucket)
		for i := range msgs {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			if err := b.Put(binary.BigEndian.AppendUint64(nil, seq), encode(&msgs[i])); err != nil {
				return err
			}
		}
		return nil
	})
}

func (q *boltQueue) Next(context.Context) (queue.Record, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var rec queue.Record
	err := q.db.View(func(tx *bolt.Tx) error {
		k, v := tx.Bucket(boltBucket).Cursor().Seek(binary.BigEndian.AppendUint64(nil, q.read+1))
		if k == nil {
			return errors.New("bolt queue is empty")
		}
		var err error
		rec.Message, err = decode(v)
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

// encode is the value stored per message: time (8 bytes), QoS, topic length (2 bytes),
// topic, payload. About the size of the segment log's record, without its CRC.
func encode(m *queue.Message) []byte {
	b := make([]byte, 0, 11+len(m.Topic)+len(m.Payload))
	b = binary.BigEndian.AppendUint64(b, uint64(m.Time.UnixNano()))
	b = append(b, m.QoS)
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.Topic)))
	b = append(b, m.Topic...)
	return append(b, m.Payload...)
}

func decode(v []byte) (queue.Message, error) {
	if len(v) < 11 {
		return queue.Message{}, errors.New("bolt value shorter than its header")
	}
	n := int(binary.BigEndian.Uint16(v[9:11]))
	if len(v) < 11+n {
		return queue.Message{}, errors.New("bolt value shorter than its topic")
	}
	return queue.Message{
		Time:    time.Unix(0, int64(binary.BigEndian.Uint64(v))),
		QoS:     v[8],
		Topic:   string(v[11 : 11+n]),
		Payload: append([]byte(nil), v[11+n:]...),
	}, nil
}
