package systemd

import (
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// LogOptions configure NewLogger. The zero value logs at info to stderr.
type LogOptions struct {
	Level string    // debug, info, warn or error
	Out   io.Writer // default os.Stderr
	// Journal forces the journald format on or off; nil detects it from JOURNAL_STREAM.
	Journal *bool
	// Repeat is how often an identical warning or error is let through; 0 means a minute.
	Repeat time.Duration
	Now    func() time.Time
}

// NewLogger builds thingd's logger. Its level can be changed later (SIGHUP) through
// the returned AtomicLevel.
func NewLogger(o LogOptions) (*zap.Logger, zap.AtomicLevel, error) {
	level := zap.NewAtomicLevel()
	if err := SetLevel(level, o.Level); err != nil {
		return nil, level, err
	}
	out := o.Out
	if out == nil {
		out = os.Stderr
	}
	journal := StderrIsJournal()
	if o.Journal != nil {
		journal = *o.Journal
	}
	var enc zapcore.Encoder
	if journal {
		enc = newJournalEncoder()
	} else {
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeTime = zapcore.TimeEncoderOfLayout("2006-01-02T15:04:05.000Z0700")
		ec.CallerKey = ""
		ec.StacktraceKey = ""
		enc = zapcore.NewConsoleEncoder(ec)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(out)), level)
	core = newRepeatLimiter(core, o.Repeat, o.Now)
	return zap.New(core), level, nil
}

// SetLevel parses a config level name into lvl.
func SetLevel(lvl zap.AtomicLevel, name string) error {
	if name == "" {
		name = "info"
	}
	var l zapcore.Level
	if err := l.UnmarshalText([]byte(name)); err != nil || l > zapcore.ErrorLevel {
		return fmt.Errorf("log level %q: use debug, info, warn or error", name)
	}
	lvl.SetLevel(l)
	return nil
}

// StderrIsJournal reports whether stderr is connected to journald: systemd sets
// JOURNAL_STREAM to the device and inode of that stream, and a redirected stderr
// (for instance `thingd run 2>file` inside the unit) no longer matches.
func StderrIsJournal() bool {
	dev, ino, ok := strings.Cut(os.Getenv("JOURNAL_STREAM"), ":")
	if !ok {
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(2, &st); err != nil {
		return false
	}
	return dev == fmt.Sprint(st.Dev) && ino == fmt.Sprint(st.Ino)
}
