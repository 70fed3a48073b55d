package uplink

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"thingd/daemon/queue"
)

// fakeDeadLetters records what the uplink moved out of the queue.
type fakeDeadLetters struct {
	mu      sync.Mutex
	letters []queue.Record
	strikes []int
}

func (f *fakeDeadLetters) Add(rec queue.Record, strikes int, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.letters = append(f.letters, rec)
	f.strikes = append(f.strikes, strikes)
	return nil
}

func (f *fakeDeadLetters) seqs() []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []uint64
	for _, r := range f.letters {
		out = append(out, r.Seq)
	}
	return out
}

// poisonLink is a broker that closes the connection when poison is published: every
// delivery still open fails, the way the session fails PublishOnce deliveries when the
// connection ends. Good deliveries are acknowledged in batches by a background "broker",
// so several are in flight at once. openAtPoison records how many deliveries were open
// (the poison one included) each time poison went out.
type poisonLink struct {
	*fakeLink
	poison       uint64
	openAtPoison []int
	stop         chan struct{}
	done         chan struct{}
}

func newPoisonLink(poison uint64) *poisonLink {
	l := &poisonLink{fakeLink: newFakeLink(), poison: poison, stop: make(chan struct{}), done: make(chan struct{})}
	l.publish = func(d *fakeDelivery) {
		if d.seq != l.poison {
			return
		}
		l.mu.Lock()
		l.openAtPoison = append(l.openAtPoison, l.open)
		l.mu.Unlock()
		l.completeAll(errLost)
	}
	go func() {
		defer close(l.done)
		for {
			select {
			case <-l.stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			l.completeAll(nil)
		}
	}()
	return l
}

func (l *poisonLink) close() { close(l.stop); <-l.done }

func (l *poisonLink) poisonSends() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int(nil), l.openAtPoison...)
}

// A message whose publish kills the connection is sent alone after each loss, struck
// MaxStrikes times, moved to the dead letters and acknowledged to the queue; every other
// message is delivered. Without the probe it would be resent forever and nothing behind it
// would be acknowledged.
func TestPoisonMessageIsDeadLettered(t *testing.T) {
	const n, poison = 101, 51
	src := newFakeSource(n)
	link := newPoisonLink(poison)
	defer link.close()
	dead := &fakeDeadLetters{}
	u, stop := start(t, Options{Source: src, Link: link.fakeLink, Window: 20, DeadLetters: dead})
	waitFor(t, "every record acknowledged", src.allAcked)
	stop()
	if got := dead.seqs(); len(got) != 1 || got[0] != poison {
		t.Fatalf("dead letters %v, want [%d]", got, poison)
	}
	if dead.strikes[0] != MaxStrikes {
		t.Fatalf("dead-lettered after %d strikes, want %d", dead.strikes[0], MaxStrikes)
	}
	sends := link.poisonSends()
	if len(sends) != 1+MaxStrikes {
		t.Fatalf("the poison was sent %d times, want %d (once in the window, then %d probes)", len(sends), 1+MaxStrikes, MaxStrikes)
	}
	for i, open := range sends[1:] {
		if open != 1 {
			t.Fatalf("probe %d of the poison went out with %d deliveries open; a probe is sent alone", i+1, open)
		}
	}
	if got := u.Published(); got != n-1 {
		t.Fatalf("published %d, want %d", got, n-1)
	}
	if u.LoneResends() < MaxStrikes {
		t.Fatalf("%d lone resends, want at least %d", u.LoneResends(), MaxStrikes)
	}
	if u.DeadLettered() != 1 {
		t.Fatalf("DeadLettered %d, want 1", u.DeadLettered())
	}
}

// A connection that dies later than StrikeWindow after the lone publish (a lost PUBACK, an
// outage) is no strike: the message is never dead-lettered, and once the broker
// acknowledges it the line flows on.
func TestLateConnectionLossIsNoStrike(t *testing.T) {
	const n, slow = 30, 7
	var clock atomic.Int64 // nanoseconds on the fake clock
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	src := newFakeSource(n)
	link := newFakeLink()
	var fails atomic.Int32
	link.publish = func(d *fakeDelivery) {
		if d.seq == slow && fails.Load() < 2*MaxStrikes {
			fails.Add(1)
			clock.Add(int64(StrikeWindow + time.Second)) // the connection lasted beyond the window
			link.completeAll(errLost)
			return
		}
		d.complete(nil)
	}
	dead := &fakeDeadLetters{}
	start(t, Options{Source: src, Link: link, DeadLetters: dead, Now: now})
	waitFor(t, "every record acknowledged", src.allAcked)
	if got := dead.seqs(); len(got) != 0 {
		t.Fatalf("dead-lettered %v although every loss came after the strike window", got)
	}
	if fails.Load() != 2*MaxStrikes {
		t.Fatalf("%d losses, want %d", fails.Load(), 2*MaxStrikes)
	}
}

// Strikes are counted in a row: a PUBACK in between starts the count over, so a message
// that merely shared bad luck with a flaky network is never dead-lettered. Here the first
// probe of each record after 5 fails quickly, once; every record is delivered.
func TestPubackClearsStrikes(t *testing.T) {
	const n = 12
	src := newFakeSource(n)
	link := newFakeLink()
	var mu sync.Mutex
	failed := map[uint64]int{}
	link.publish = func(d *fakeDelivery) {
		mu.Lock()
		fail := d.seq >= 5 && failed[d.seq] < MaxStrikes-1
		if fail {
			failed[d.seq]++
		}
		mu.Unlock()
		if fail {
			link.completeAll(errLost)
			return
		}
		d.complete(nil)
	}
	dead := &fakeDeadLetters{}
	start(t, Options{Source: src, Link: link, DeadLetters: dead})
	waitFor(t, "every record acknowledged", src.allAcked)
	if got := dead.seqs(); len(got) != 0 {
		t.Fatalf("dead-lettered %v; no record failed %d times in a row", got, MaxStrikes)
	}
}

// A connection the uplink dropped itself because a PUBACK was late was alive: its failed
// deliveries are sent again in the window, not one at a time (which would cost a round trip
// each, on every lost PUBACK).
func TestForcedReconnectSendsNothingAlone(t *testing.T) {
	const n = 400
	src := newFakeSource(n)
	link := newFakeLink()
	var mu sync.Mutex
	sends := map[uint64]int{}
	var held []*fakeDelivery
	link.publish = func(d *fakeDelivery) {
		mu.Lock()
		sends[d.seq]++
		drop := d.seq%20 == 0 && sends[d.seq] == 1
		if drop {
			held = append(held, d) // the broker's PUBACK was lost
		}
		mu.Unlock()
		if !drop {
			d.complete(nil)
		}
	}
	link.reconnect = func(string) {
		// The session fails what had no PUBACK when the connection ends (PublishOnce).
		mu.Lock()
		ds := held
		held = nil
		mu.Unlock()
		for _, d := range ds {
			d.complete(errLost)
		}
	}
	u, stop := start(t, Options{Source: src, Link: link, AckTimeout: 30 * time.Millisecond, DeadLetters: &fakeDeadLetters{}})
	waitFor(t, "every record acknowledged", src.allAcked)
	stop()
	if u.LateAcks() == 0 {
		t.Fatal("no PUBACK was late: the test proves nothing")
	}
	if got := u.LoneResends(); got != 0 {
		t.Fatalf("%d records were sent alone after reconnects the uplink forced itself", got)
	}
}
