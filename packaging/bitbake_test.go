package packaging

import (
	"regexp"
	"strings"
	"testing"
)

var bbAssign = regexp.MustCompile(`^([A-Za-z0-9_${}:\-\[\]]+)\s*(\?\?=|\?=|:=|\+=|=)\s*"(.*)"\s*$`)

// bbVars reads the plain assignments of a recipe or layer.conf (NAME = "v",
// ?=, ??=, :=, +=, with backslash continuations). It is just enough for our
// own files and no substitute for bitbake: nothing is expanded.
func bbVars(t *testing.T, text string) map[string]string {
	t.Helper()
	vars := map[string]string{}
	var logical []string
	var cur strings.Builder
	for _, line := range strings.Split(text, "\n") {
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\"))
			continue
		}
		cur.WriteString(line)
		logical = append(logical, cur.String())
		cur.Reset()
	}
	for _, line := range logical {
		m := bbAssign.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		name, op, val := m[1], m[2], strings.Join(strings.Fields(m[3]), " ")
		switch {
		case op == "+=":
			vars[name] = strings.TrimSpace(vars[name] + " " + val)
		case op == "??=" || op == "?=":
			if _, ok := vars[name]; !ok {
				vars[name] = val
			}
		default:
			vars[name] = val
		}
	}
	return vars
}

func TestBBVars(t *testing.T) {
	vars := bbVars(t, "A = \"1\"\nA ?= \"2\"\nB ?= \"x\"\nC = \"a \\\n   b\"\nC += \"c\"\nD:${PN} := \"d\"\n# E = \"no\"\n")
	want := map[string]string{"A": "1", "B": "x", "C": "a b c", "D:${PN}": "d"}
	for k, v := range want {
		if vars[k] != v {
			t.Errorf("%s = %q, want %q", k, vars[k], v)
		}
	}
	if len(vars) != len(want) {
		t.Errorf("vars = %q, want only %q", vars, want)
	}
}
