package deadletter

import (
	"bytes"
	"testing"
)

// FuzzParseFile: any bytes either parse to letters that encode back to the same valid
// prefix, or fail as "not ours"; never a panic, and the prefix is never longer than the input.
func FuzzParseFile(f *testing.F) {
	good := []byte(fileMagic)
	good = appendRecord(good, &Letter{Seq: 1, Topic: "dt/pi/x", QoS: 1, Payload: []byte("hi"), Reason: "denied"})
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add([]byte(fileMagic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		letters, n, err := parseFile(data)
		if err != nil {
			return
		}
		if n > len(data) {
			t.Fatalf("valid prefix %d of %d bytes", n, len(data))
		}
		if n == 0 {
			return
		}
		re := []byte(fileMagic)
		for i := range letters {
			re = appendRecord(re, &letters[i])
		}
		if !bytes.Equal(re, data[:n]) {
			t.Fatalf("re-encoding %d letters gives %d bytes, not the %d parsed", len(letters), len(re), n)
		}
	})
}
