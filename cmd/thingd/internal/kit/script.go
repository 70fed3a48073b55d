package kit

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"thingd/daemon/limits"
)

// Flag spellings of the SDK samples the console's kits have run over the years
// (v2: --endpoint/--client_id/--topic; v1: -e/-id/-t).
var (
	endpointFlags = []string{"--endpoint", "-e"}
	clientFlags   = []string{"--client_id", "--client-id", "--clientId", "-id"}
	topicFlags    = []string{"--topic", "-t"}
)

// parseScript reads the sample's command line from start.sh (or start.ps1): the last
// command that names an endpoint, else the last that names a client ID or topic.
// Values that are not literal (shell variables) or not valid for AWS IoT are left out.
func parseScript(text string) (endpoint, clientID, topic string) {
	var found bool
	for _, line := range commandLines(text) {
		args := words(line)
		e, c, t := flagValue(args, endpointFlags), flagValue(args, clientFlags), flagValue(args, topicFlags)
		e = strings.ToLower(e)
		if !validHost(e) {
			e = ""
		}
		if limits.CheckClientID(c) != nil || !plain(c, false) {
			c = ""
		}
		if len(t) > limits.MaxTopicBytes || !plain(t, true) {
			t = ""
		}
		switch {
		case e != "":
			endpoint, clientID, topic, found = e, c, t, true
		case !found && (c != "" || t != ""):
			clientID, topic = c, t
		}
	}
	return endpoint, clientID, topic
}

// rejectedEndpoint returns the first --endpoint value the script gives that is not a
// hostname (a URL, a shell variable, a typo), when it gives no valid one; "" otherwise.
func rejectedEndpoint(text string) string {
	bad := ""
	for _, line := range commandLines(text) {
		e := flagValue(words(line), endpointFlags)
		if e == "" {
			continue
		}
		if validHost(strings.ToLower(e)) {
			return ""
		}
		if bad == "" {
			bad = e
		}
	}
	return bad
}

// commandLines joins continuation lines (\ in sh, ` in PowerShell) and drops comments.
func commandLines(text string) []string {
	var lines []string
	var cur strings.Builder
	for _, l := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		if t := strings.TrimRight(l, " \t"); strings.HasSuffix(t, `\`) || strings.HasSuffix(t, "`") {
			cur.WriteString(t[:len(t)-1] + " ")
			continue
		}
		cur.WriteString(l)
		if s := strings.TrimSpace(cur.String()); s != "" && !strings.HasPrefix(s, "#") {
			lines = append(lines, s)
		}
		cur.Reset()
	}
	return lines
}

// words splits a command line like a shell would for literal arguments: quotes group,
// a backslash escapes. A quoted argument list (mvn's -Dexec.args='--endpoint x ...')
// is split again, and "--flag=value" becomes two words.
func words(line string) []string {
	var out []string
	var cur strings.Builder
	var quote rune
	inWord, escaped := false, false
	flush := func() {
		if inWord {
			out = append(out, expand(cur.String())...)
		}
		cur.Reset()
		inWord = false
	}
	for _, r := range line {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\\':
			escaped, inWord = true, true
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case unicode.IsSpace(r) || r == ';' || r == '|' || r == '&':
			flush()
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	flush()
	return out
}

func expand(word string) []string {
	var parts []string
	if strings.Contains(word, " -") {
		parts = strings.Fields(word)
	} else {
		parts = []string{word}
	}
	var out []string
	for _, p := range parts {
		if name, value, ok := strings.Cut(p, "="); ok && strings.HasPrefix(name, "-") {
			out = append(out, name, value)
			continue
		}
		out = append(out, p)
	}
	return out
}

// flagValue returns the value after the last of the given flags.
func flagValue(args, flags []string) string {
	v := ""
	for i := 0; i+1 < len(args); i++ {
		for _, f := range flags {
			if args[i] == f {
				v = args[i+1]
			}
		}
	}
	return v
}

// plain accepts printable text without shell expansions; spaces only where allowed.
func plain(s string, spaces bool) bool {
	if s == "" || !utf8.ValidString(s) || strings.ContainsAny(s, "$`%") {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || (r == ' ' && !spaces) {
			return false
		}
	}
	return true
}

// validHost accepts a DNS name such as xxx-ats.iot.us-east-1.amazonaws.com.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
