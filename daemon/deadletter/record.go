package deadletter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"
)

// fileMagic starts every dead-letter file; a file without it is not ours.
const fileMagic = "thingdDL1\n"

// Record layout (little endian), the queue's framing with more fields:
//
//	0  u32 body length N      4  u32 CRC32C of bytes 0..3 and the body
//	8  u64 seq               16  i64 enqueue time, unix ns    24 i64 dead-lettered at, unix ns
//	32 u8  QoS               33  u8 strikes                   34 u16 topic length T
//	36 u16 reason length R   38  topic (T), reason (R), payload (rest)
const (
	recHeaderSize = 8
	recFixedBody  = 30
	maxTopic      = 1<<16 - 1
	maxReason     = 1<<16 - 1
	// maxPayload matches the queue's bound, so any queued message fits.
	maxPayload = 1 << 20
	maxBody    = recFixedBody + maxTopic + maxReason + maxPayload
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt marks bytes that are not a whole valid record: torn, damaged or not ours.
var errCorrupt = errors.New("corrupt dead-letter record")

// Letter is one message the broker refused, kept until a person retries or discards it.
type Letter struct {
	Seq      uint64    `json:"seq"` // its sequence number in the queue
	Topic    string    `json:"topic"`
	QoS      byte      `json:"qos"`
	Payload  []byte    `json:"payload"`
	Enqueued time.Time `json:"enqueued"`
	At       time.Time `json:"at"`      // when it was moved here
	Strikes  int       `json:"strikes"` // connections it cost
	Reason   string    `json:"reason"`
}

func (l Letter) size() int {
	return recHeaderSize + recFixedBody + len(l.Topic) + len(l.Reason) + len(l.Payload)
}

// appendRecord encodes l onto dst. Topic, reason and payload must be within their bounds
// (Store.Add trims the reason and refuses the rest).
func appendRecord(dst []byte, l *Letter) []byte {
	start := len(dst)
	body := recFixedBody + len(l.Topic) + len(l.Reason) + len(l.Payload)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(body))
	dst = binary.LittleEndian.AppendUint32(dst, 0) // CRC, filled in below
	dst = binary.LittleEndian.AppendUint64(dst, l.Seq)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(nanos(l.Enqueued)))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(nanos(l.At)))
	dst = append(dst, l.QoS, byte(min(l.Strikes, 255)))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(l.Topic)))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(l.Reason)))
	dst = append(dst, l.Topic...)
	dst = append(dst, l.Reason...)
	dst = append(dst, l.Payload...)
	rec := dst[start:]
	binary.LittleEndian.PutUint32(rec[4:8], checksum(rec))
	return dst
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// checksum covers the length field too, so a damaged length cannot pass as a short record.
func checksum(rec []byte) uint32 {
	c := crc32.Update(0, castagnoli, rec[0:4])
	return crc32.Update(c, castagnoli, rec[recHeaderSize:])
}

// parseRecord decodes the record at the start of b and returns its size. Any error means
// b does not start with a whole valid record (a torn tail after a power cut, or damage);
// the result never aliases b.
func parseRecord(b []byte) (Letter, int, error) {
	if len(b) < recHeaderSize {
		return Letter{}, 0, fmt.Errorf("%w: %d bytes left, a header is %d", errCorrupt, len(b), recHeaderSize)
	}
	n := binary.LittleEndian.Uint32(b[0:4])
	if n < recFixedBody || n > maxBody {
		return Letter{}, 0, fmt.Errorf("%w: length %d", errCorrupt, n)
	}
	size := recHeaderSize + int(n)
	if len(b) < size {
		return Letter{}, 0, fmt.Errorf("%w: %d of %d bytes", errCorrupt, len(b), size)
	}
	rec := b[:size]
	if want, got := binary.LittleEndian.Uint32(rec[4:8]), checksum(rec); want != got {
		return Letter{}, 0, fmt.Errorf("%w: checksum %08x, want %08x", errCorrupt, got, want)
	}
	body := rec[recHeaderSize:]
	tl := int(binary.LittleEndian.Uint16(body[26:28]))
	rl := int(binary.LittleEndian.Uint16(body[28:30]))
	if recFixedBody+tl+rl > len(body) || body[24] > 1 || len(body)-recFixedBody-tl-rl > maxPayload {
		return Letter{}, 0, fmt.Errorf("%w: bad topic or reason length or QoS", errCorrupt)
	}
	l := Letter{
		Seq:      binary.LittleEndian.Uint64(body[0:8]),
		Enqueued: fromNanos(int64(binary.LittleEndian.Uint64(body[8:16]))),
		At:       fromNanos(int64(binary.LittleEndian.Uint64(body[16:24]))),
		QoS:      body[24],
		Strikes:  int(body[25]),
	}
	p := body[recFixedBody:]
	l.Topic = string(p[:tl])
	l.Reason = string(p[tl : tl+rl])
	l.Payload = append([]byte{}, p[tl+rl:]...)
	return l, size, nil
}
