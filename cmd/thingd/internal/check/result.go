package check

import (
	"bytes"
	"encoding/json"
	"slices"
)

// Status is the verdict on one step.
type Status string

// Statuses. Only StatusFail makes `thingd check` exit 1; a skip follows from an earlier
// failure or from a reason given in its detail, and is never a failure by itself.
const (
	StatusPass Status = "pass"
	StatusWarn Status = "warn"
	StatusFail Status = "fail"
	StatusSkip Status = "skip"
)

// Result is one step's verdict. Data holds structured values for scripts (offset_ms,
// rtt_ms, path, addr, connack, ...); JSON writes them beside step, status, detail and fix.
type Result struct {
	Step   string
	Status Status
	Detail string
	Fix    string
	Data   map[string]any
}

// MarshalJSON flattens Data into the object so scripts read r.offset_ms, not r.data.offset_ms.
// step, status, detail and fix come first, for a person reading the output.
func (r Result) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	var err error
	add := func(k string, v any) {
		vb, e := json.Marshal(v)
		if e != nil {
			err = e
			return
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('{')
	add("step", r.Step)
	add("status", r.Status)
	add("detail", r.Detail)
	if r.Fix != "" {
		add("fix", r.Fix)
	}
	keys := make([]string, 0, len(r.Data))
	for k := range r.Data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch k {
		case "step", "status", "detail", "fix": // data never shadows the fixed fields
		default:
			add(k, r.Data[k])
		}
	}
	b.WriteByte('}')
	return b.Bytes(), err
}

// Failed reports whether any step failed.
func Failed(results []Result) bool {
	for _, r := range results {
		if r.Status == StatusFail {
			return true
		}
	}
	return false
}

func pass(step, detail string, data map[string]any) Result {
	return Result{Step: step, Status: StatusPass, Detail: detail, Data: data}
}

func warn(step, detail, fix string, data map[string]any) Result {
	return Result{Step: step, Status: StatusWarn, Detail: detail, Fix: fix, Data: data}
}

func fail(step, detail, fix string, data map[string]any) Result {
	return Result{Step: step, Status: StatusFail, Detail: detail, Fix: fix, Data: data}
}

func skip(step, reason string) Result {
	return Result{Step: step, Status: StatusSkip, Detail: reason}
}
