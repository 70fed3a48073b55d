package handler

// tailBuffer keeps the last limit bytes written to it: when a handler fails, the end of its
// output usually says why, and a chatty program must not grow thingd's memory or the journal.
// exec.Cmd writes to it from one goroutine and the result is read after Wait, so no lock.
type tailBuffer struct {
	buf   []byte
	limit int
	total int64
}

func newTailBuffer(limit int) *tailBuffer { return &tailBuffer{limit: limit} }

func (w *tailBuffer) Write(p []byte) (int, error) {
	w.total += int64(len(p))
	if len(p) >= w.limit {
		w.buf = append(w.buf[:0], p[len(p)-w.limit:]...)
		return len(p), nil
	}
	if over := len(w.buf) + len(p) - w.limit; over > 0 {
		w.buf = w.buf[:copy(w.buf, w.buf[over:])]
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

func (w *tailBuffer) String() string { return string(w.buf) }

// dropped is how many bytes were written but not kept.
func (w *tailBuffer) dropped() int64 { return w.total - int64(len(w.buf)) }
