package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestRecordClassifiesArrivals: the chaos checker tells a repeat of the same attempt (a
// re-delivery) from a second attempt (a producer retry), and flags what no producer sent.
func TestRecordClassifiesArrivals(t *testing.T) {
	g := newLedger(2, 4) // producers 0 and 1, messages 0..1 each
	g.markSent(0, 0, 2, 1)
	g.markSent(0, 0, 2, 2)
	g.markAcked(0, 0, 2, 2)
	r := newRecord(g)
	now := time.Now()
	for _, p := range []string{"0 0 1 x", "0 0 1 x", "0 0 2 x", "0 1 3 x", "1 0 1 x", "garbage"} {
		r.add("chaos/p0", []byte(p), now)
	}
	if len(r.sameDups) != 1 || r.retryDups != 1 || len(r.phantoms) != 3 || r.arrivals != 6 {
		t.Fatalf("same %d, retry %d, phantoms %q, arrivals %d; want 1, 1, 3, 6", len(r.sameDups), r.retryDups, r.phantoms, r.arrivals)
	}
	// Message 1 of producer 0 was acknowledged (attempt 2) but only a phantom attempt 3 came.
	if n, some := r.missing(); n != 1 || !strings.Contains(some[0], "producer 0 message 1") {
		t.Fatalf("missing %d %v; want producer 0 message 1", n, some)
	}
}

// TestVerdict: each broken promise fails the run on its own.
func TestVerdict(t *testing.T) {
	ok := chaosResult{events: []event{{kind: eventKill}, {kind: eventRestart}, {kind: eventCut}}, sameDups: 330}
	if err := ok.verdict(); err != nil {
		t.Fatalf("a clean run failed: %v", err)
	}
	for name, tc := range map[string]struct {
		mutate func(*chaosResult)
		want   string
	}{
		"lost":       {func(r *chaosResult) { r.lost = 1 }, "were lost"},
		"phantom":    {func(r *chaosResult) { r.phantoms = []string{"9 9 9"} }, "no producer sent"},
		"not empty":  {func(r *chaosResult) { r.finalDepth = 3 }, "queue holds 3"},
		"duplicates": {func(r *chaosResult) { r.sameDups = 331 }, "more than the 330"},
		"pending":    {func(r *chaosResult) { r.pending = true }, "did not get every message"},
	} {
		t.Run(name, func(t *testing.T) {
			r := ok
			tc.mutate(&r)
			if err := r.verdict(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("verdict %v; want %q", err, tc.want)
			}
		})
	}
}

// TestVerdictAWS: against the AWS-like broker the duplicate bound is a window per
// connection the broker saw but the first, plus for each SIGKILL the ack-file lag and the
// messages acknowledged ahead of the durable head; each denied message must end as one dead
// letter.
func TestVerdictAWS(t *testing.T) {
	// 12 connections: 11 × 100, plus the kill's 10 + 400 ahead = 1510.
	ok := chaosResult{c: chaosConfig{aws: true, denies: 1}, connects: 12, deadLetters: 1,
		events: []event{{kind: eventKill, ahead: 400}, {kind: eventCut}, {kind: eventDeny}}, sameDups: 1510}
	if err := ok.verdict(); err != nil {
		t.Fatalf("a clean run failed: %v", err)
	}
	for name, tc := range map[string]struct {
		mutate func(*chaosResult)
		want   string
	}{
		"duplicates":       {func(r *chaosResult) { r.sameDups = 1511 }, "more than the 1510"},
		"fewer connects":   {func(r *chaosResult) { r.connects = 11 }, "more than the 1410"},
		"no dead letter":   {func(r *chaosResult) { r.deadLetters = 0 }, "0 dead letters"},
		"two dead letters": {func(r *chaosResult) { r.deadLetters = 2 }, "2 dead letters"},
	} {
		t.Run(name, func(t *testing.T) {
			r := ok
			tc.mutate(&r)
			if err := r.verdict(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("verdict %v; want %q", err, tc.want)
			}
		})
	}
}

// TestReplaceSection: a section is swapped between its markers and the rest of the file,
// hand-written notes included, is kept byte for byte.
func TestReplaceSection(t *testing.T) {
	doc := skeleton()
	doc = strings.Replace(doc, "## Analysis and notes\n\n(not measured yet)", "## Analysis and notes\n\nhand-written", 1)
	got, err := replaceSection(doc, sectionChaos, "## Chaos\n\nnew figures")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "<!-- chaos:begin -->\n## Chaos\n\nnew figures\n<!-- chaos:end -->") || !strings.Contains(got, "hand-written") {
		t.Fatalf("got:\n%s", got)
	}
	if _, err := replaceSection("<!-- bench:begin -->\nno end", sectionBench, "x"); err == nil {
		t.Fatal("a begin marker without an end was accepted")
	}
	if got, _ := replaceSection("# title\n", sectionBench, "x"); !strings.HasSuffix(got, "<!-- bench:begin -->\nx\n<!-- bench:end -->\n") {
		t.Fatalf("no markers: got %q", got)
	}
}

// TestTally: distinct first arrivals, duplicates and payloads out of range are told apart,
// and the rate runs from the first to the last first arrival.
func TestTally(t *testing.T) {
	tl := newTally(3)
	t0 := time.Unix(100, 0)
	tl.add(payloadLine(0, 20), t0)
	tl.add(payloadLine(0, 20), t0.Add(time.Second))
	tl.add(payloadLine(7, 20), t0)
	tl.add(payloadLine(1, 20), t0.Add(time.Second))
	tl.add(payloadLine(2, 20), t0.Add(2*time.Second))
	if err := tl.wait(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if tl.dups != 1 || tl.bad != 1 || tl.rate() != 1 {
		t.Fatalf("dups %d bad %d rate %v; want 1, 1, 1", tl.dups, tl.bad, tl.rate())
	}
}

func TestParseFields(t *testing.T) {
	f := parseFields([]byte("VmHWM:\t  1234 kB\nVmRSS:\t  1000 kB\nnoise\n"), ":")
	if f["VmHWM"] != "1234 kB" || f["VmRSS"] != "1000 kB" || len(f) != 2 {
		t.Fatalf("%q", f)
	}
}
