package config

import (
	"fmt"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// positions maps dotted key paths ("mqtt.port", "telemetry[1].topic") to the line
// they are written on. go-toml reports lines for syntax, type and unknown-key errors,
// but our own checks run after decoding and need this map to point at the line.
type positions map[string]int

// tableKey marks the entries of positions that are table headers, not key/values.
const tableKey = "\x00table:"

func locate(doc []byte) positions {
	pos := positions{}
	var p unstable.Parser
	p.Reset(doc)
	table := ""
	arrays := map[string]int{}
	for p.NextExpression() {
		e := p.Expression()
		keys, line := keyOf(&p, e)
		switch e.Kind {
		case unstable.Table:
			table = keys
			pos.set(table, line)
			pos.set(tableKey+table, line)
		case unstable.ArrayTable:
			i := arrays[keys]
			arrays[keys] = i + 1
			table = fmt.Sprintf("%s[%d]", keys, i)
			pos.set(table, line)
			pos.set(tableKey+table, line)
		case unstable.KeyValue:
			full := keys
			if table != "" {
				full = table + "." + keys
			}
			pos.set(full, line)
		}
	}
	return pos
}

func keyOf(p *unstable.Parser, e *unstable.Node) (string, int) {
	var parts []string
	line := 0
	it := e.Key()
	for it.Next() {
		n := it.Node()
		if line == 0 {
			line = p.Shape(n.Raw).Start.Line
		}
		parts = append(parts, string(n.Data))
	}
	return strings.Join(parts, "."), line
}

func (p positions) set(key string, line int) {
	if _, ok := p[key]; !ok {
		p[key] = line
	}
}

// line finds the line of key, falling back to its enclosing table so that a missing
// key inside [mqtt] still points the reader at the section.
func (p positions) line(key string) int {
	for k := key; k != ""; {
		if l, ok := p[k]; ok {
			return l
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return 0
}

// keyAt returns the key written on line, for errors that go-toml reports by position only.
func (p positions) keyAt(line int) string {
	best := ""
	for k, l := range p {
		if l == line && !strings.HasPrefix(k, tableKey) && (best == "" || len(k) > len(best)) {
			best = k
		}
	}
	return best
}

// tableBefore names the table whose header is the last one above row ("" at top level).
func (p positions) tableBefore(row int) string {
	table, at := "", 0
	for k, l := range p {
		if name, ok := strings.CutPrefix(k, tableKey); ok && l < row && l > at {
			table, at = name, l
		}
	}
	return table
}
