package queue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"
)

// Record layout (little endian), see docs/queue.md:
//
//	0  u32 body length N      4  u32 CRC32C of bytes 0..3 and the body
//	8  u64 seq               16  i64 enqueue time, unix nanoseconds
//	24 u8  QoS               25  u16 topic length T
//	27 topic (T bytes)       27+T payload (N-19-T bytes)
const (
	recHeaderSize = 8
	recFixedBody  = 19
	// MaxPayload bounds one message. AWS IoT takes 128 KiB; the queue allows more so the limit
	// stays a policy of the local API, yet a corrupt length field can never demand gigabytes.
	MaxPayload = 1 << 20
	maxTopic   = 1<<16 - 1
	maxBody    = recFixedBody + maxTopic + MaxPayload
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt marks bytes that are not a valid record: a bad length, checksum or layout.
var errCorrupt = errors.New("corrupt record")

// Message is what a producer enqueues.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	// Time is the enqueue time, given by the caller so that it can be the trusted time
	// rather than the system clock; the zero Time means Options.Now().
	Time time.Time
}

// Record is a queued message with the sequence number the queue assigned to it.
type Record struct {
	Seq uint64
	Message
}

func validate(m *Message) error {
	switch {
	case m.Topic == "":
		return errors.New("queue message has an empty topic")
	case len(m.Topic) > maxTopic:
		return fmt.Errorf("queue message topic is %d bytes; the queue takes at most %d", len(m.Topic), maxTopic)
	case len(m.Payload) > MaxPayload:
		return fmt.Errorf("queue message on topic %q has a %d byte payload; the queue takes at most %d", m.Topic, len(m.Payload), MaxPayload)
	case m.QoS > 1:
		return fmt.Errorf("queue message on topic %q has QoS %d; use 0 or 1", m.Topic, m.QoS)
	}
	return nil
}

func recordSize(m *Message) int {
	return recHeaderSize + recFixedBody + len(m.Topic) + len(m.Payload)
}

// appendRecord encodes one record onto dst.
func appendRecord(dst []byte, seq uint64, nanos int64, m *Message) []byte {
	start := len(dst)
	body := recFixedBody + len(m.Topic) + len(m.Payload)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(body))
	dst = binary.LittleEndian.AppendUint32(dst, 0) // CRC, filled in below
	dst = binary.LittleEndian.AppendUint64(dst, seq)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(nanos))
	dst = append(dst, m.QoS)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(m.Topic)))
	dst = append(dst, m.Topic...)
	dst = append(dst, m.Payload...)
	rec := dst[start:]
	binary.LittleEndian.PutUint32(rec[4:8], checksum(rec))
	return dst
}

// checksum covers the length field too, so a damaged length cannot pass as a short record.
func checksum(rec []byte) uint32 {
	c := crc32.Update(0, castagnoli, rec[0:4])
	return crc32.Update(c, castagnoli, rec[recHeaderSize:])
}

// bodyLen reads and sanity-checks the length field of a record header.
func bodyLen(hdr []byte) (int, error) {
	n := binary.LittleEndian.Uint32(hdr[0:4])
	if n < recFixedBody || n > maxBody {
		return 0, fmt.Errorf("%w: length %d", errCorrupt, n)
	}
	return int(n), nil
}

// decodeRecord checks and decodes one whole record (header and body). The result does not
// alias rec.
func decodeRecord(rec []byte) (Record, error) {
	if err := verifyRecord(rec); err != nil {
		return Record{}, err
	}
	b := rec[recHeaderSize:]
	tl := int(binary.LittleEndian.Uint16(b[17:19]))
	var r Record
	r.Seq = binary.LittleEndian.Uint64(b[0:8])
	r.Time = time.Unix(0, int64(binary.LittleEndian.Uint64(b[8:16])))
	r.QoS = b[16]
	r.Topic = string(b[recFixedBody : recFixedBody+tl])
	r.Payload = append([]byte(nil), b[recFixedBody+tl:]...)
	return r, nil
}

// verifyRecord checks a whole record (length, checksum, topic length, QoS) in place;
// start-up uses it to walk the last segment without allocating a copy of every record.
func verifyRecord(rec []byte) error {
	if len(rec) < recHeaderSize+recFixedBody {
		return fmt.Errorf("%w: %d bytes", errCorrupt, len(rec))
	}
	n, err := bodyLen(rec)
	if err != nil {
		return err
	}
	if len(rec) != recHeaderSize+n {
		return fmt.Errorf("%w: length %d in a %d byte record", errCorrupt, n, len(rec))
	}
	if want, got := binary.LittleEndian.Uint32(rec[4:8]), checksum(rec); want != got {
		return fmt.Errorf("%w: checksum %08x, want %08x", errCorrupt, got, want)
	}
	b := rec[recHeaderSize:]
	tl := int(binary.LittleEndian.Uint16(b[17:19]))
	if recFixedBody+tl > len(b) || b[16] > 1 {
		return fmt.Errorf("%w: bad topic length or QoS", errCorrupt)
	}
	return nil
}

// recordSeq is the seq of a verified record.
func recordSeq(rec []byte) uint64 {
	return binary.LittleEndian.Uint64(rec[recHeaderSize : recHeaderSize+8])
}
