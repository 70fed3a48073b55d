package config

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

var durationType = reflect.TypeOf(Duration(0))

// durationKeys lists the dotted keys (list indices left out) whose values are durations.
func durationKeys() map[string]bool {
	keys := map[string]bool{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if name == "" || name == "-" {
				continue
			}
			ft := f.Type
			for ft.Kind() == reflect.Slice || ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch {
			case ft == durationType:
				keys[prefix+name] = true
			case ft.Kind() == reflect.Struct:
				walk(ft, prefix+name+".")
			}
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	return keys
}

var listIndex = regexp.MustCompile(`\[\d+\]`)

// bareDurations finds durations written as plain numbers: go-toml would decode
// `timeout = 30` into 30 nanoseconds, which nobody means.
func bareDurations(path string, doc []byte, pos positions) []Problem {
	keys := durationKeys()
	lines := strings.Split(string(doc), "\n")
	var probs []Problem
	for key, line := range pos {
		if !keys[listIndex.ReplaceAllString(key, "")] || line < 1 || line > len(lines) {
			continue
		}
		_, v, ok := strings.Cut(lines[line-1], "=")
		if !ok {
			continue
		}
		v, _, _ = strings.Cut(v, "#")
		v = strings.TrimSpace(v)
		n, err := strconv.ParseFloat(strings.ReplaceAll(v, "_", ""), 64)
		if err != nil {
			continue
		}
		probs = append(probs, Problem{File: path, Line: line, Key: key,
			Msg: fmt.Sprintf("%s is a number without a unit; a duration is a quoted string with one: write \"%ss\" for %s seconds", v, strconv.FormatFloat(n, 'f', -1, 64), v)})
	}
	sort.Slice(probs, func(i, j int) bool { return probs[i].Line < probs[j].Line })
	return probs
}
