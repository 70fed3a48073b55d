package jobs

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// AWS IoT Jobs' limits on statusDetails (API reference, JobExecutionState): at most 10
// pairs, keys of [a-zA-Z0-9:_-], values of 1..1024 characters without control characters.
const (
	maxDetails     = 10
	maxDetailValue = 1024
)

// details builds statusDetails within AWS's limits; empty values are left out (AWS refuses
// them) and the rest are made printable and cut to the limit.
type details map[string]string

func (d details) set(key, value string) details {
	v := printable(value)
	if n := utf8.RuneCountInString(v); n > maxDetailValue {
		v = string([]rune(v)[:maxDetailValue-1]) + "…"
	}
	return d.put(key, v)
}

func (d details) put(key, v string) details {
	if len(d) < maxDetails && v != "" {
		d[key] = v
	}
	return d
}

// tail keeps the end of a program's output, which usually says why it failed.
func (d details) tail(key, out string) details {
	v := printable(out)
	if n := utf8.RuneCountInString(v); n > maxDetailValue {
		r := []rune(v)
		v = "…" + string(r[n-maxDetailValue+1:])
	}
	return d.put(key, v)
}

// printable replaces control characters (newlines included) and invalid UTF-8, which AWS
// refuses in a value, by one space per run, and trims; a line break becomes " | " so lines
// stay apart.
func printable(s string) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.TrimSpace(s)
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString(" | ")
			space = true
		case unicode.Is(unicode.C, r) || unicode.IsSpace(r):
			if !space {
				b.WriteByte(' ')
			}
			space = true
		default:
			b.WriteRune(r)
			space = false
		}
	}
	return strings.TrimSpace(b.String())
}
