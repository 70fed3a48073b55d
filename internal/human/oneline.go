package human

import (
	"strings"
	"unicode"
)

var crlf = strings.NewReplacer("\r\n", " ")

// OneLine makes text from elsewhere (an error, a file name, a kit's topic) safe on one
// line of a line-based protocol or a generated comment: every control character,
// line breaks included, becomes a space, so it can neither end the line nor smuggle in
// another one.
func OneLine(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, crlf.Replace(s)))
}
