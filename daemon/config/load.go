package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Resolve picks the config path: the --config flag, else $THINGD_CONFIG, else DefaultPath.
func Resolve(flag string) string {
	if flag != "" {
		return flag
	}
	if env := os.Getenv(EnvPath); env != "" {
		return env
	}
	return DefaultPath
}

// Load reads, decodes and validates the file at path.
func Load(path string) (*Config, error) {
	doc, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s (create it, run `thingd import KIT.zip`, or pass --config FILE)", ErrNotFound, path)
		}
		return nil, fmt.Errorf("%w: read %s: %w", ErrInvalid, path, err)
	}
	return Parse(path, doc)
}

// Parse decodes doc strictly on top of Defaults and validates it. path is used in
// messages and to resolve relative file names.
func Parse(path string, doc []byte) (*Config, error) {
	// Editors on Windows may save a UTF-8 byte order mark; it carries no meaning here.
	doc = bytes.TrimPrefix(doc, []byte("\ufeff"))
	cfg := Defaults()
	// Lists replace, never merge into, the defaults.
	cfg.Clock.Servers = nil
	pos := locate(doc)
	if probs := bareDurations(path, doc, pos); len(probs) > 0 {
		return nil, &ValidationError{Problems: probs}
	}

	dec := toml.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return nil, &ValidationError{Problems: decodeProblems(path, doc, pos, err)}
	}
	if _, ok := pos["clock.servers"]; !ok {
		cfg.Clock.Servers = Defaults().Clock.Servers
	}
	// QoS defaults to 1 (at least once) where the key is absent; an explicit 0 stays 0.
	for i := range cfg.Telemetry {
		_, set := pos[fmt.Sprintf("telemetry[%d].qos", i)]
		telemetryDefaults(&cfg.Telemetry[i], set)
	}
	for i := range cfg.Subscribe {
		_, set := pos[fmt.Sprintf("subscribe[%d].qos", i)]
		subscribeDefaults(&cfg.Subscribe[i], set)
	}
	cfg.fillJobs()
	cfg.Path = path
	if probs := cfg.validate(pos); len(probs) > 0 {
		return nil, &ValidationError{Problems: probs}
	}
	cfg.resolvePaths()
	return &cfg, nil
}

func decodeProblems(path string, doc []byte, pos positions, err error) []Problem {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		probs := make([]Problem, 0, len(strict.Errors))
		for _, e := range strict.Errors {
			row, _ := e.Position()
			key := pos.keyAt(row) // the full path, with list indices
			if key == "" {
				key = strings.Join(e.Key(), ".")
			}
			probs = append(probs, Problem{File: path, Line: row, Key: key,
				Msg: "unknown key (check the spelling against the documented keys)"})
		}
		return probs
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, _ := de.Position()
		key := pos.keyAt(row) // the full path, with list indices
		if key == "" {
			key = strings.Join(de.Key(), ".")
		}
		if key == "" {
			key = keyOnLine(doc, pos, row)
		}
		return []Problem{{File: path, Line: row, Key: key, Msg: friendly(de.Error())}}
	}
	return []Problem{{File: path, Msg: err.Error()}}
}

// resolvePaths makes file names relative to the config's directory absolute, so the
// daemon's working directory never matters.
func (c *Config) resolvePaths() {
	dir := filepath.Dir(c.Path)
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.MQTT.CAFile)
	abs(&c.MQTT.CertFile)
	abs(&c.MQTT.KeyFile)
	abs(&c.Clock.StateFile)
	abs(&c.Queue.Dir)
	abs(&c.Local.Socket)
	for i := range c.Subscribe {
		abs(&c.Subscribe[i].File)
	}
	abs(&c.Jobs.StateFile)
}

var mismatch = regexp.MustCompile(`cannot decode TOML (\w+) into struct field \S+ of type (\S+)`)

// friendly rewords go-toml's Go-centric messages for a person editing the file.
func friendly(msg string) string {
	msg = strings.TrimPrefix(msg, "toml: ")
	m := mismatch.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	want := map[string]string{
		"int": "a number without quotes", "int64": "a number without quotes", "bool": "true or false",
		"string": "a quoted string", "[]string": "a list of quoted strings like [\"a\", \"b\"]",
		"config.Duration": "a quoted duration like \"60s\"", "config.Size": "a quoted size like \"64MiB\"",
	}[m[2]]
	if want == "" {
		want = m[2]
	}
	return fmt.Sprintf("found a %s, expected %s", m[1], want)
}

// keyOnLine recovers the key of a line that failed to parse, so syntax errors are
// located as precisely as the others.
func keyOnLine(doc []byte, pos positions, row int) string {
	lines := strings.Split(string(doc), "\n")
	if row < 1 || row > len(lines) {
		return ""
	}
	k, _, ok := strings.Cut(lines[row-1], "=")
	if !ok {
		return ""
	}
	k = strings.TrimSpace(k)
	table := pos.tableBefore(row)
	if table == "" {
		return k
	}
	return table + "." + k
}
