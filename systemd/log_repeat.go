package systemd

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// maxRepeatKeys bounds the memory the limiter can take when messages vary without end.
const maxRepeatKeys = 256

// repeatLimiter lets an identical warning or error through once per window and then
// reports how many were suppressed, so a reconnect loop does not wear out an SD card
// with the same line every second. Info and debug lines pass untouched.
type repeatLimiter struct {
	zapcore.Core
	st  *repeatState
	ctx []zapcore.Field // fields added by With, part of what makes two lines identical
}

type repeatState struct {
	mu     sync.Mutex
	window time.Duration
	now    func() time.Time
	seen   map[string]*repeat
}

type repeat struct {
	last       time.Time
	suppressed int
}

func newRepeatLimiter(core zapcore.Core, window time.Duration, now func() time.Time) zapcore.Core {
	if window <= 0 {
		window = time.Minute
	}
	if now == nil {
		now = time.Now
	}
	return &repeatLimiter{Core: core, st: &repeatState{window: window, now: now, seen: map[string]*repeat{}}}
}

func (r *repeatLimiter) With(fields []zapcore.Field) zapcore.Core {
	ctx := append(r.ctx[:len(r.ctx):len(r.ctx)], fields...)
	return &repeatLimiter{Core: r.Core.With(fields), st: r.st, ctx: ctx}
}

func (r *repeatLimiter) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if r.Enabled(ent.Level) {
		return ce.AddCore(ent, r)
	}
	return ce
}

func (r *repeatLimiter) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	if ent.Level < zapcore.WarnLevel {
		return r.Core.Write(ent, fields)
	}
	suppressed, ok := r.st.admit(key(ent, r.ctx, fields))
	if !ok {
		return nil
	}
	if suppressed > 0 {
		fields = append(fields[:len(fields):len(fields)], zap.Int("suppressed", suppressed))
	}
	return r.Core.Write(ent, fields)
}

func (s *repeatState) admit(k string) (suppressed int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	r := s.seen[k]
	if r == nil {
		if len(s.seen) >= maxRepeatKeys {
			s.evictOldest()
		}
		s.seen[k] = &repeat{last: now}
		return 0, true
	}
	if now.Sub(r.last) < s.window {
		r.suppressed++
		return 0, false
	}
	n := r.suppressed
	r.last, r.suppressed = now, 0
	return n, true
}

func (s *repeatState) evictOldest() {
	var oldest string
	for k, r := range s.seen {
		if oldest == "" || r.last.Before(s.seen[oldest].last) {
			oldest = k
		}
	}
	delete(s.seen, oldest)
}

// key identifies "the same line": level, logger, message and every field's value.
func key(ent zapcore.Entry, ctx, fields []zapcore.Field) string {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range ctx {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	names := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "%s\x00%s\x00%s", ent.Level, ent.LoggerName, ent.Message)
	for _, k := range names {
		fmt.Fprintf(&b, "\x00%s=%v", k, enc.Fields[k])
	}
	return b.String()
}
