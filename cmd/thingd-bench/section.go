package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// docs/BENCHMARKS.md has three parts between markers: the benchmark figures and the chaos
// figures, each rewritten by its own command, and hand-written notes that both keep.
const (
	sectionBench = "bench"
	sectionChaos = "chaos"
	// sectionChaosAWS is the chaos run against the AWS-like broker (`chaos --aws`).
	sectionChaosAWS = "chaos-aws"
	sectionNotes    = "notes"
)

var sectionTitles = map[string]string{sectionBench: "", sectionChaos: "## Chaos\n\n", sectionChaosAWS: "## Chaos against the AWS-like broker\n\n", sectionNotes: "## Analysis and notes\n\n"}

const docHeader = "# thingd benchmarks\n\n`make bench` rewrites the benchmark part of this file and `make chaos` its two Chaos sections (mosquitto, then the AWS-like broker); the Analysis section is written by hand and kept.\n\n"

func markers(name string) (begin, end string) {
	return "<!-- " + name + ":begin -->\n", "<!-- " + name + ":end -->\n"
}

// writeSection replaces one section of the markdown file at path, creating the file (with
// every section) when it does not exist.
func writeSection(path, name, content string) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		data, err = []byte(skeleton()), nil
	}
	if err != nil {
		return err
	}
	doc, err := replaceSection(string(data), name, sectionTitles[name]+content)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, []byte(doc), 0o644)
}

func skeleton() string {
	var b strings.Builder
	b.WriteString(docHeader)
	for _, name := range []string{sectionBench, sectionChaos, sectionChaosAWS, sectionNotes} {
		begin, end := markers(name)
		fmt.Fprintf(&b, "%s%s(not measured yet)\n%s\n", begin, sectionTitles[name], end)
	}
	return b.String()
}

// replaceSection swaps the text between a section's markers; a document without them gets
// the section appended.
func replaceSection(doc, name, content string) (string, error) {
	begin, end := markers(name)
	if !strings.HasSuffix(content, "\n") {
		content += "\n"
	}
	i := strings.Index(doc, begin)
	if i < 0 {
		if !strings.HasSuffix(doc, "\n") {
			doc += "\n"
		}
		return doc + "\n" + begin + content + end, nil
	}
	j := strings.Index(doc[i:], end)
	if j < 0 {
		return "", fmt.Errorf("the %q marker has no matching %q; fix the file by hand", strings.TrimSpace(begin), strings.TrimSpace(end))
	}
	return doc[:i+len(begin)] + content + doc[i+j:], nil
}
