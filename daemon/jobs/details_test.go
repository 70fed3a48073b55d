package jobs

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func validDetail(v string) bool {
	n := utf8.RuneCountInString(v)
	return n >= 1 && n <= maxDetailValue && utf8.ValidString(v) &&
		strings.IndexFunc(v, func(r rune) bool { return unicode.Is(unicode.C, r) }) < 0
}

// TestDetailsWithinLimits: output with control characters, invalid UTF-8 and any length is
// turned into values AWS accepts; a tail keeps the end, set keeps the start; empty values and
// pairs beyond 10 are left out.
func TestDetailsWithinLimits(t *testing.T) {
	long := strings.Repeat("é", 3000) + "END"
	d := details{}.set("start", long).tail("end", "\x00\x1b[1mbold\r\n"+long).set("empty", " \n\t ")
	if !strings.HasSuffix(d["end"], "END") || !strings.HasPrefix(d["start"], "é") || !strings.HasSuffix(d["start"], "…") {
		t.Fatalf("details %q", d)
	}
	if _, ok := d["empty"]; ok {
		t.Fatal("an empty value was kept")
	}
	for k, v := range d {
		if !validDetail(v) {
			t.Fatalf("%s = %q", k, v)
		}
	}
	if got := printable("a\nb\xffc"); got != "a | b?c" {
		t.Fatalf("printable = %q", got)
	}
	for i := range 15 {
		d.set(string(rune('a'+i)), "x")
	}
	if len(d) != maxDetails {
		t.Fatalf("%d pairs", len(d))
	}
}
