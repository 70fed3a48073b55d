package main

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

const (
	// thingdWindow is thingd's in-flight window (limits.MaxInFlight): a fault can make it
	// publish again at most the messages that were waiting for their PUBACK.
	thingdWindow = 100
	// subscriberWindow is the chaos broker's max_inflight_messages towards the subscriber,
	// which a broker restart can deliver again.
	subscriberWindow = 20
	// ackLag allows for PUBACKs that arrived while the queue was writing its ack file
	// (pwrite, off the PUBACK path): after SIGKILL those are published again too.
	ackLag = 10
)

// chaosResult are the figures of one chaos run.
type chaosResult struct {
	c                   chaosConfig
	events              []event
	produced, delivered time.Duration

	acked, sentTwice, failed, chunks int
	distinct, arrivals, lost         int
	lostExamples                     []string
	sameDups, retryDups              int
	phantoms                         []string
	unattributed                     int   // duplicates before the first fault
	finalDepth                       int64 // the daemon's queue at the end, -1 if not read
	// Against the AWS-like broker (c.aws): the connections it accepted and the PUBACKs it
	// dropped on purpose.
	connects, pubacksDropped int
	deadLetters              int  // thingd's dead letters at the end
	pending                  bool // the run stopped before every message was acknowledged
}

func (ch *chaos) result(produced, delivered time.Duration) *chaosResult {
	ch.mu.Lock()
	events := append([]event(nil), ch.events...)
	ch.mu.Unlock()
	res := &chaosResult{c: ch.c, events: events, produced: produced, delivered: delivered, finalDepth: -1}
	res.lost, res.lostExamples = ch.rec.missing()
	g, r := ch.ledger, ch.rec
	g.mu.Lock()
	r.mu.Lock()
	defer r.mu.Unlock()
	defer g.mu.Unlock()
	res.failed, res.chunks = g.failed, g.chunks
	for p := range g.acked {
		for s, a := range g.acked[p] {
			if a != 0 {
				res.acked++
			} else {
				res.pending = true
			}
			if g.sent[p][s]&(g.sent[p][s]-1) != 0 {
				res.sentTwice++
			}
			if r.seen[p][s] != 0 {
				res.distinct++
			}
		}
	}
	res.arrivals, res.sameDups, res.retryDups = r.arrivals, len(r.sameDups), r.retryDups
	res.phantoms = append([]string(nil), r.phantoms...)
	// Each duplicate is put down to the last fault injected before it arrived.
	for _, t := range r.sameDups {
		i := len(res.events) - 1
		for i >= 0 && res.events[i].at.After(t) {
			i--
		}
		if i < 0 {
			res.unattributed++
		} else {
			res.events[i].dups++
		}
	}
	return res
}

// bound is how many duplicate deliveries a fault may cause: thingd's window, plus the
// subscriber's window when the broker itself restarts, plus, after SIGKILL, the ack-file lag
// and the messages acknowledged ahead of the queue's durable head (sent again on restart).
func bound(e event) int {
	switch e.kind {
	case eventRestart:
		return thingdWindow + subscriberWindow
	case eventKill:
		return thingdWindow + ackLag + e.ahead
	}
	return thingdWindow
}

// allowed is how many duplicates the whole run can explain. Against the AWS-like broker more
// connections end than the faults injected (thingd drops one for a lost PUBACK, the broker
// one for a refused publish: four per refused message, the first with the window full, then
// three strikes sent alone), and each may leave a window
// in flight: there the bound counts the broker's connections instead of the faults.
func (res *chaosResult) allowed() int {
	n := 0
	if res.c.aws {
		n = thingdWindow * max(0, res.connects-1)
	}
	for _, e := range res.events {
		switch {
		case !res.c.aws:
			n += bound(e)
		case e.kind == eventKill:
			n += ackLag + e.ahead
		}
	}
	return n
}

// verdict fails the run when an acknowledged message was lost, something arrived that no
// producer sent, the daemon's queue did not empty, or duplicates exceed what the faults allow.
func (res *chaosResult) verdict() error {
	var errs []error
	if res.pending {
		errs = append(errs, errors.New("the producers did not get every message acknowledged"))
	}
	if res.lost > 0 {
		errs = append(errs, fmt.Errorf("%d acknowledged messages were lost, e.g. %v", res.lost, res.lostExamples))
	}
	if len(res.phantoms) > 0 {
		errs = append(errs, fmt.Errorf("%d+ messages arrived that no producer sent, e.g. %q", len(res.phantoms), res.phantoms))
	}
	if res.c.aws && res.deadLetters != res.c.denies {
		errs = append(errs, fmt.Errorf("thingd holds %d dead letters at the end, want %d (one per message the policy denies)", res.deadLetters, res.c.denies))
	}
	if res.finalDepth != 0 {
		errs = append(errs, fmt.Errorf("thingd's queue holds %d messages at the end, want 0", res.finalDepth))
	}
	if allowed := res.allowed(); res.sameDups > allowed {
		per := "fault"
		if res.c.aws {
			per = "connection"
		}
		errs = append(errs, fmt.Errorf("%d duplicate deliveries, more than the %d the faults can explain (window %d per %s)", res.sameDups, allowed, thingdWindow, per))
	}
	return errors.Join(errs...)
}

// renderChaos is the Chaos section of docs/BENCHMARKS.md.
func renderChaos(res *chaosResult) string {
	c := res.c
	var b strings.Builder
	fmt.Fprintf(&b, "Generated by `make chaos`%s on %s (seed %d; repeat with `--seed %d`).\n\n", awsFlag(c), time.Now().UTC().Format("2006-01-02 15:04 MST"), c.seed, c.seed)
	fmt.Fprintf(&b, "%d numbered messages from %d concurrent producers, each running `thingd pub --lines` on chunks of %d lines (a chunk is acknowledged only when pub exits 0, and is sent again as a new attempt otherwise), paced over %v, ", c.messages, c.producers, c.chunk, c.duration)
	if c.aws {
		fmt.Fprintf(&b, "against the AWS-like broker (`internal/testbed/awsiot`: an IoT policy that allows publishing to `chaos/#` only, the PUBACK of every %d-th publish dropped, resends included: %d dropped in all), ", c.dropEvery, res.pubacksDropped)
		fmt.Fprintf(&b, "while the daemon was killed with SIGKILL %d times (and restarted), the network between thingd and the broker cut %d times (a TCP forwarder closes every connection and stops listening) and %d message(s) outside the policy queued among the others (the broker closes the connection on it; thingd must set it aside as a dead letter). ", c.kills, c.cuts, c.denies)
		b.WriteString("A subscriber inside the broker records every arrival; each payload names its producer, number and attempt.\n\n")
	} else {
		fmt.Fprintf(&b, "while the daemon was killed with SIGKILL %d times (and restarted), the broker restarted %d times (SIGTERM, `persistence true`) and the network between thingd and the broker cut %d times (a TCP forwarder closes every connection and stops listening). ", c.kills, c.restarts, c.cuts)
		b.WriteString("A subscriber connected straight to the broker (clean session false, QoS 1) records every arrival; each payload names its producer, number and attempt.\n\n")
	}
	b.WriteString("| figure | value |\n|---|---|\n")
	row := func(k string, v any) { fmt.Fprintf(&b, "| %s | %v |\n", k, v) }
	row("messages acknowledged to producers", res.acked)
	row("acknowledged messages that never arrived (must be 0)", res.lost)
	row("arrivals that no producer sent (must be 0)", len(res.phantoms))
	row("distinct messages arrived", res.distinct)
	row("arrivals in all", res.arrivals)
	row("duplicate deliveries of the same attempt (thingd or broker re-sent it)", res.sameDups)
	row("arrivals of a second attempt (the producer re-sent a chunk that pub did not acknowledge)", res.retryDups)
	row("pub runs that failed and were retried", res.failed)
	row("messages handed to pub more than once", res.sentTwice)
	row("thingd's queue at the end", res.finalDepth)
	if c.aws {
		row("connections the broker accepted", res.connects)
		row("PUBACKs the broker dropped", res.pubacksDropped)
		row(fmt.Sprintf("dead letters at the end (must be %d, the denied messages)", c.denies), res.deadLetters)
	}
	row("producers done after", res.produced.Round(time.Second))
	row("everything acknowledged had arrived after", res.delivered.Round(time.Second))
	fmt.Fprintf(&b, "\nDuplicates by fault (each duplicate counted against the last fault before its arrival; the bound is thingd's in-flight window of %d, plus the broker's window of %d towards the subscriber for a broker restart, plus for a SIGKILL %d PUBACKs that may not be in the ack file yet and the messages acknowledged ahead of the queue's durable head just before it, which a restart publishes again):\n\n", thingdWindow, subscriberWindow, ackLag)
	if c.aws {
		fmt.Fprintf(&b, "Against the AWS-like broker more connections end than faults were injected (one for each lost PUBACK thingd gives up on, four for each refused message: the first with the window in flight, then three strikes sent alone), so the run's bound is a window for each of the broker's %d connections but the first, plus the SIGKILLs' extras: %d.\n\n", res.connects, res.allowed())
	}
	if c.aws {
		// Duplicates after a fault include those of the lost-PUBACK reconnects that followed
		// it, so a per-fault bound would mislead: the table shows what each SIGKILL added.
		b.WriteString("| # | fault | at | down | duplicates after it | acknowledged ahead of the durable head (SIGKILL) |\n|---|---|---|---|---|---|\n")
		for i, e := range res.events {
			fmt.Fprintf(&b, "| %d | %s | %v | %v | %d | %d |\n", i+1, e.kind, e.sinceStart.Round(100*time.Millisecond), e.down.Round(10*time.Millisecond), e.dups, e.ahead)
		}
	} else {
		b.WriteString("| # | fault | at | down | duplicates | bound |\n|---|---|---|---|---|---|\n")
		for i, e := range res.events {
			fmt.Fprintf(&b, "| %d | %s | %v | %v | %d | %d |\n", i+1, e.kind, e.sinceStart.Round(100*time.Millisecond), e.down.Round(10*time.Millisecond), e.dups, bound(e))
		}
	}
	if res.unattributed > 0 {
		fmt.Fprintf(&b, "\n%d duplicates arrived before the first fault.\n", res.unattributed)
	}
	verdict := "passed"
	if err := res.verdict(); err != nil {
		verdict = "FAILED: " + err.Error()
	}
	fmt.Fprintf(&b, "\nVerdict: %s.\n", verdict)
	return b.String()
}

func awsFlag(c chaosConfig) string {
	if c.aws {
		return " (`thingd-bench chaos --aws`)"
	}
	return ""
}
