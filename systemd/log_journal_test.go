package systemd

import (
	"testing"

	"go.uber.org/zap/zapcore"
)

// TestJournalEncoderReusesBuffers: the buffer EncodeEntry returns comes from one shared
// pool, so once freed it is reused and a log line costs no allocation for it. A pool made
// per entry allocates the pool and its buffer on every line.
func TestJournalEncoderReusesBuffers(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	enc := newJournalEncoder()
	ent := zapcore.Entry{Level: zapcore.InfoLevel, Message: "thingd ready"}
	allocs := testing.AllocsPerRun(100, func() {
		buf, err := enc.EncodeEntry(ent, nil)
		if err != nil {
			t.Fatal(err)
		}
		buf.Free()
	})
	if allocs > 0 {
		t.Errorf("EncodeEntry allocates %v times per line, want 0 (buffers not pooled)", allocs)
	}
}
