package systemd

import (
	"strconv"

	"go.uber.org/zap"
	"go.uber.org/zap/buffer"
	"go.uber.org/zap/zapcore"
)

// journalEncoder writes console lines prefixed with "<N>", the syslog priority that
// journald strips and stores as PRIORITY, so `journalctl -p warning` works. journald
// adds its own timestamp, so the line has none.
type journalEncoder struct {
	zapcore.Encoder
}

// journalBuffers is shared by every encoder and entry: a pool per entry would allocate
// a fresh pool (and buffer) for each log line and never reuse one.
var journalBuffers = buffer.NewPool()

func newJournalEncoder() zapcore.Encoder {
	ec := zap.NewProductionEncoderConfig()
	ec.TimeKey = ""
	ec.LevelKey = ""
	ec.CallerKey = ""
	ec.StacktraceKey = ""
	ec.ConsoleSeparator = " "
	return journalEncoder{zapcore.NewConsoleEncoder(ec)}
}

func (e journalEncoder) Clone() zapcore.Encoder { return journalEncoder{e.Encoder.Clone()} }

func (e journalEncoder) EncodeEntry(ent zapcore.Entry, fields []zapcore.Field) (*buffer.Buffer, error) {
	line, err := e.Encoder.EncodeEntry(ent, fields)
	if err != nil {
		return nil, err
	}
	out := journalBuffers.Get()
	out.AppendByte('<')
	out.AppendString(strconv.Itoa(Priority(ent.Level)))
	out.AppendByte('>')
	_, _ = out.Write(line.Bytes())
	line.Free()
	return out, nil
}

// Priority maps a zap level to a syslog priority (sd-daemon.h).
func Priority(l zapcore.Level) int {
	switch {
	case l <= zapcore.DebugLevel:
		return 7
	case l == zapcore.InfoLevel:
		return 6
	case l == zapcore.WarnLevel:
		return 4
	case l == zapcore.ErrorLevel:
		return 3
	default:
		return 2
	}
}
