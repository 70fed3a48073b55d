package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Sources of output lines; each gets a colour on a terminal.
const (
	srcDemo     = "demo"
	srcNTP      = "ntp"
	srcBroker   = "broker"
	srcThingd   = "thingd"
	srcProducer = "producer"
	srcCloud    = "cloud"
	srcDevice   = "device"
)

var colours = map[string]string{
	srcDemo:     "1",  // bold
	srcNTP:      "34", // blue
	srcBroker:   "35", // magenta
	srcThingd:   "90", // grey: the daemon's own log is the background
	srcProducer: "33", // yellow
	srcCloud:    "36", // cyan
	srcDevice:   "32", // green
}

// printer writes one prefixed line per event, whole lines only, from any goroutine.
type printer struct {
	mu     sync.Mutex
	w      io.Writer
	colour bool
	now    func() time.Time
}

func newPrinter(w io.Writer) *printer {
	return &printer{w: w, colour: isTerminal(w) && os.Getenv("NO_COLOR") == "", now: time.Now}
}

// isTerminal is true for a character device such as a tty; pipes and files get plain text.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (p *printer) printf(src, format string, args ...any) {
	text := strings.TrimRight(fmt.Sprintf(format, args...), "\n")
	prefix := fmt.Sprintf("%-8s│", src)
	if c := colours[src]; p.colour && c != "" {
		prefix = "\x1b[" + c + "m" + prefix + "\x1b[0m"
	}
	stamp := p.now().Format("15:04:05")
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, line := range strings.Split(text, "\n") {
		fmt.Fprintf(p.w, "%s %s %s\n", stamp, prefix, line)
	}
}

// shorten cuts a payload for one terminal line, marking the cut.
func shorten(b []byte, max int) string {
	s := strings.ToValidUTF8(string(b), "?")
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max]) + "…"
}
