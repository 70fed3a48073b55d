package queue

import (
	"bytes"
	"errors"
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	for _, m := range []Message{
		msg(1),
		{Topic: "t", QoS: 0, Time: testTime},
		{Topic: string(bytes.Repeat([]byte("x"), maxTopic)), Payload: make([]byte, MaxPayload), QoS: 1, Time: testTime},
	} {
		b := appendRecord(nil, 42, m.Time.UnixNano(), &m)
		if len(b) != recordSize(&m) {
			t.Fatalf("encoded %d bytes, recordSize says %d", len(b), recordSize(&m))
		}
		r, err := decodeRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		if r.Seq != 42 || r.Topic != m.Topic || !bytes.Equal(r.Payload, m.Payload) || r.QoS != m.QoS || !r.Time.Equal(m.Time) {
			t.Fatalf("round trip changed the record: %v", r.Topic)
		}
		// Every single flipped bit is caught.
		for i := range min(len(b), 64) {
			c := bytes.Clone(b)
			c[i] ^= 1
			if _, err := decodeRecord(c); !errors.Is(err, errCorrupt) {
				t.Fatalf("bit flip at byte %d not detected: %v", i, err)
			}
		}
	}
}

// FuzzDecodeRecord: whatever is on disk, decoding never panics and what it accepts
// re-encodes to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	m := msg(7)
	f.Add(appendRecord(nil, 7, m.Time.UnixNano(), &m))
	f.Add([]byte{19, 0, 0, 0, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		if again := appendRecord(nil, r.Seq, r.Time.UnixNano(), &r.Message); !bytes.Equal(again, b) {
			t.Fatalf("accepted %x but re-encodes to %x", b, again)
		}
	})
}
