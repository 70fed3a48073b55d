package uplink

import (
	"context"
	"errors"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"
)

// guard is a failure guard, never a timing assertion.
const guard = 20 * time.Second

var errLost = errors.New("session lost")

// start runs an uplink over src and link; the returned stop ends it, settles what the
// fake link still holds and waits for Run.
func start(t *testing.T, o Options) (*Uplink, func()) {
	t.Helper()
	u := New(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); u.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			o.Link.(*fakeLink).completeAll(ErrNotConnected)
			<-done
		})
	}
	t.Cleanup(stop)
	return u, stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// A record is acknowledged to the queue only after its own PUBACK, whatever the order of
// PUBACKs.
func TestNoAckBeforePuback(t *testing.T) {
	src := newFakeSource(5)
	var ackMu sync.Mutex
	var acks []uint64
	src.onAck = func(seq uint64) { ackMu.Lock(); acks = append(acks, seq); ackMu.Unlock() }
	link := newFakeLink()
	start(t, Options{Source: src, Link: link})
	waitFor(t, "5 publishes", func() bool { n, _, _ := link.stats(); return n == 5 })
	time.Sleep(20 * time.Millisecond) // let a wrong Ack show up
	ackMu.Lock()
	if len(acks) != 0 {
		t.Fatalf("acknowledged %v before any PUBACK", acks)
	}
	ackMu.Unlock()
	link.mu.Lock()
	third := link.sent[2]
	link.mu.Unlock()
	third.complete(nil)
	waitFor(t, "the ack of 3", func() bool { ackMu.Lock(); defer ackMu.Unlock(); return len(acks) > 0 })
	time.Sleep(20 * time.Millisecond)
	ackMu.Lock()
	defer ackMu.Unlock()
	if len(acks) != 1 || acks[0] != 3 {
		t.Fatalf("after the PUBACK of 3 alone, acked %v; want [3]", acks)
	}
}

// A delivery that fails (the session was lost) is published again: the uplink rewinds the
// source and every record ends up acknowledged.
func TestRewindAfterLostDelivery(t *testing.T) {
	src := newFakeSource(20)
	link := newFakeLink()
	var mu sync.Mutex
	failed := false
	link.publish = func(d *fakeDelivery) {
		mu.Lock()
		fail := d.seq == 7 && !failed
		failed = failed || fail
		mu.Unlock()
		if fail {
			d.complete(errLost)
		} else {
			d.complete(nil)
		}
	}
	start(t, Options{Source: src, Link: link})
	waitFor(t, "every record acknowledged", src.allAcked)
	if src.rewinds == 0 {
		t.Fatal("no rewind after a lost delivery")
	}
}

// The window: never more than Window publishes without outcome, and every outcome returns
// its token (otherwise the uplink stalls after Window publishes).
func TestWindowNeverLeaks(t *testing.T) {
	const n, window = 350, 100
	src := newFakeSource(n)
	link := newFakeLink()
	link.publish = func(d *fakeDelivery) {
		link.mu.Lock()
		full := link.open >= window || d.seq == n // the tail never fills the window
		link.mu.Unlock()
		if full {
			// Give a window that does not hold the chance to overrun before settling.
			go func() {
				time.Sleep(20 * time.Millisecond)
				link.completeAll(nil)
			}()
		}
	}
	u, stop := start(t, Options{Source: src, Link: link, Window: window})
	waitFor(t, "every record acknowledged", src.allAcked)
	waitFor(t, "an empty window", func() bool { return u.InFlight() == 0 })
	stop()
	if _, _, maxOpen := link.stats(); maxOpen > window {
		t.Fatalf("%d publishes were in flight at once; the window is %d", maxOpen, window)
	}
	if got := u.Published(); got != n {
		t.Fatalf("published %d, want %d", got, n)
	}
}

// Order: between rewinds the uplink publishes in queue order and skips only records already
// acknowledged, even when PUBACKs come back out of order, some deliveries are lost and some
// publishes are refused because the connection just went (the refused record must go first).
func TestPublishesInOrder(t *testing.T) {
	const n = 400
	src := newFakeSource(n)
	link := newFakeLink()
	var mu sync.Mutex
	var rewindAt []int                 // len(link.sent) at each rewind
	ackedAt := map[uint64]int{}        // len(link.sent) when each seq was acknowledged
	rng := rand.New(rand.NewSource(1)) // guarded by mu
	var pending []*fakeDelivery
	refused := 0
	link.refuse = func() bool {
		mu.Lock()
		defer mu.Unlock()
		if rng.Intn(30) == 0 {
			refused++
			return true
		}
		return false
	}
	link.publish = func(d *fakeDelivery) {
		mu.Lock()
		defer mu.Unlock()
		pending = append(pending, d)
		if len(pending) < 4 {
			return
		}
		rng.Shuffle(len(pending), func(i, j int) { pending[i], pending[j] = pending[j], pending[i] })
		for _, p := range pending {
			if rng.Intn(40) == 0 {
				p.complete(errLost)
			} else {
				p.complete(nil)
			}
		}
		pending = nil
	}
	src.onAck = func(seq uint64) {
		n, _, _ := link.stats()
		mu.Lock()
		ackedAt[seq] = n
		mu.Unlock()
	}
	rs := &rewindSpy{fakeSource: src, at: func() {
		n, _, _ := link.stats()
		mu.Lock()
		rewindAt = append(rewindAt, n)
		mu.Unlock()
	}}
	// Settle a short tail that never reached 4 pending.
	stopTail := make(chan struct{})
	tailDone := make(chan struct{})
	go func() {
		defer close(tailDone)
		for {
			select {
			case <-stopTail:
				return
			case <-time.After(5 * time.Millisecond):
			}
			mu.Lock()
			for _, p := range pending {
				p.complete(nil)
			}
			pending = nil
			mu.Unlock()
		}
	}()
	defer func() { close(stopTail); <-tailDone }()
	start(t, Options{Source: rs, Link: link, Window: 8})
	waitFor(t, "every record acknowledged", src.allAcked)
	seqs := link.seqs()
	mu.Lock()
	cuts := append([]int(nil), rewindAt...)
	acks := ackedAt
	mu.Unlock()
	if len(cuts) == 0 || refused == 0 {
		t.Fatalf("%d rewinds, %d refused publishes: the test proves nothing", len(cuts), refused)
	}
	cut := 0
	prev := uint64(0) // the seq published before, or 0 right after a rewind
	for i, seq := range seqs {
		for cut < len(cuts) && cuts[cut] <= i {
			cut++
			prev = 0
		}
		if seq <= prev {
			t.Fatalf("published %d after %d without a rewind (publish #%d)", seq, prev, i)
		}
		// Everything skipped since the previous publish must have been acknowledged
		// before this one was made.
		for s := prev + 1; s < seq; s++ {
			if at, ok := acks[s]; !ok || at > i {
				t.Fatalf("publish #%d is %d, skipping %d which was not yet acknowledged (acked after publish #%d)", i, seq, s, at)
			}
		}
		prev = seq
	}
}

type rewindSpy struct {
	*fakeSource
	at func()
}

func (r *rewindSpy) Rewind() { r.at(); r.fakeSource.Rewind() }

// Lost PUBACK: a publish whose PUBACK never comes forces a reconnect after AckTimeout, and
// the resend on the new connection settles it; nothing stalls and the window empties.
func TestLostPubackForcesReconnect(t *testing.T) {
	const n = 600
	src := newFakeSource(n)
	link := newFakeLink()
	var mu sync.Mutex
	var dropped []*fakeDelivery
	reconnects := 0
	link.publish = func(d *fakeDelivery) {
		if d.seq%20 == 0 {
			mu.Lock()
			dropped = append(dropped, d) // the broker's PUBACK was lost
			mu.Unlock()
			return
		}
		d.complete(nil)
	}
	link.reconnect = func(string) {
		// paho resends everything unacknowledged on the new connection: PUBACKs arrive.
		mu.Lock()
		reconnects++
		ds := dropped
		dropped = nil
		mu.Unlock()
		for _, d := range ds {
			d.complete(nil)
		}
	}
	u, stop := start(t, Options{Source: src, Link: link, AckTimeout: 30 * time.Millisecond})
	waitFor(t, "every record acknowledged", src.allAcked)
	waitFor(t, "an empty window", func() bool { return u.InFlight() == 0 })
	stop()
	mu.Lock()
	defer mu.Unlock()
	if reconnects == 0 {
		t.Fatal("no reconnect although PUBACKs were lost")
	}
	if u.LateAcks() == 0 {
		t.Fatal("late PUBACKs were not counted")
	}
}

func TestAckTimeout(t *testing.T) {
	if got := AckTimeout(5 * time.Second); got != MinAckTimeout {
		t.Errorf("AckTimeout(5s) = %v, want %v", got, MinAckTimeout)
	}
	if got := AckTimeout(60 * time.Second); got != 2*time.Minute {
		t.Errorf("AckTimeout(60s) = %v, want 2m", got)
	}
}

// A PUBACK missing while later publishes have theirs is lost (MQTT 3.1.1 acknowledges in
// order): the uplink reconnects after OvertakeGrace, long before AckTimeout, and every
// record ends up acknowledged.
func TestOvertakenPubackForcesReconnect(t *testing.T) {
	src := newFakeSource(50)
	link := newFakeLink()
	var mu sync.Mutex
	var dropped []*fakeDelivery
	reasons := []string{}
	link.publish = func(d *fakeDelivery) {
		mu.Lock()
		if d.seq == 10 && len(reasons) == 0 {
			dropped = append(dropped, d)
			mu.Unlock()
			return
		}
		mu.Unlock()
		d.complete(nil)
	}
	link.reconnect = func(reason string) {
		mu.Lock()
		reasons = append(reasons, reason)
		ds := dropped
		dropped = nil
		mu.Unlock()
		for _, d := range ds {
			d.complete(errLost) // the connection's end fails what it held
		}
	}
	u, stop := start(t, Options{Source: src, Link: link, AckTimeout: time.Hour, OvertakeGrace: 20 * time.Millisecond})
	waitFor(t, "every record acknowledged", src.allAcked)
	stop()
	mu.Lock()
	defer mu.Unlock()
	if len(reasons) != 1 || !strings.Contains(reasons[0], "later messages had theirs") || !strings.Contains(reasons[0], "message 10 ") {
		t.Fatalf("reconnects %q; want one, for message 10 overtaken by later PUBACKs", reasons)
	}
	if u.LateAcks() != 1 {
		t.Fatalf("LateAcks = %d; want 1", u.LateAcks())
	}
}

// A connection on which no PUBACK comes at all is not "overtaken": nothing later was
// acknowledged, so the uplink leaves it to the keepalive and the full AckTimeout rather
// than reconnecting after the short grace.
func TestStalledConnectionIsNotOvertaken(t *testing.T) {
	src := newFakeSource(5)
	link := newFakeLink()
	var mu sync.Mutex
	reconnects := 0
	link.reconnect = func(string) { mu.Lock(); reconnects++; mu.Unlock() }
	start(t, Options{Source: src, Link: link, AckTimeout: time.Hour, OvertakeGrace: 5 * time.Millisecond})
	waitFor(t, "5 publishes", func() bool { n, _, _ := link.stats(); return n == 5 })
	time.Sleep(100 * time.Millisecond) // 20 graces: room for a wrong reconnect to show
	mu.Lock()
	defer mu.Unlock()
	if reconnects != 0 {
		t.Fatalf("%d reconnects with no PUBACK at all; want none before AckTimeout", reconnects)
	}
}

// A QoS 0 publish "succeeds" as soon as it is written, with no PUBACK: it must not count as
// a later PUBACK, or a QoS 1 PUBACK that is merely slow would be taken for lost and cost a
// reconnect and a resent window.
func TestQoS0DoesNotOvertake(t *testing.T) {
	src := newFakeSource(2)
	src.recs[1].QoS = 0
	link := newFakeLink()
	var mu sync.Mutex
	var first *fakeDelivery
	reconnects := 0
	link.publish = func(d *fakeDelivery) {
		if d.seq == 1 {
			mu.Lock()
			first = d // its PUBACK is slow
			mu.Unlock()
			return
		}
		d.complete(nil)
	}
	link.reconnect = func(string) { mu.Lock(); reconnects++; mu.Unlock() }
	start(t, Options{Source: src, Link: link, AckTimeout: time.Hour, OvertakeGrace: 5 * time.Millisecond})
	waitFor(t, "the QoS 0 record written", func() bool { src.mu.Lock(); defer src.mu.Unlock(); return src.acked[2] })
	time.Sleep(100 * time.Millisecond) // 20 graces: room for a wrong reconnect to show
	mu.Lock()
	n, d := reconnects, first
	mu.Unlock()
	if n != 0 {
		t.Fatalf("%d reconnects: a QoS 0 publish was taken for a later PUBACK", n)
	}
	d.complete(nil)
	waitFor(t, "every record acknowledged", src.allAcked)
}

// A reconnect the uplink asked for that has not ended the connection yet is asked again
// one AckTimeout later, not at every tick of the watch.
func TestLostPubackAskedAgainAfterDeadline(t *testing.T) {
	src := newFakeSource(1)
	link := newFakeLink()
	var mu sync.Mutex
	var asks []time.Time
	var held *fakeDelivery
	link.publish = func(d *fakeDelivery) { mu.Lock(); held = d; mu.Unlock() }                 // no PUBACK, ever
	link.reconnect = func(string) { mu.Lock(); asks = append(asks, time.Now()); mu.Unlock() } // and the connection lingers
	const deadline = 150 * time.Millisecond
	u, _ := start(t, Options{Source: src, Link: link, AckTimeout: deadline, OvertakeGrace: 10 * time.Millisecond})
	waitFor(t, "a second ask", func() bool { mu.Lock(); defer mu.Unlock(); return len(asks) >= 2 })
	mu.Lock()
	gap := asks[1].Sub(asks[0])
	d := held
	mu.Unlock()
	// The ticks come every 10 ms; half the deadline tells "each deadline" from "each tick"
	// whatever the scheduler's delays.
	if gap < deadline/2 {
		t.Fatalf("asked again %v after the first ask; want about AckTimeout (%v), not every tick", gap, deadline)
	}
	if u.Overtaken() != 0 {
		t.Fatalf("Overtaken = %d with nothing acknowledged after it", u.Overtaken())
	}
	d.complete(errLost)
	waitFor(t, "the record sent again", func() bool { n, _, _ := link.stats(); return n >= 2 })
}

// A reconnect that finds no connection to drop (it is already ending, say for a refused
// publish) is not the uplink's doing: the loss that follows is probed as usual, and the
// reconnect is not counted.
func TestReconnectNotTakenIsNotCounted(t *testing.T) {
	src := newFakeSource(1)
	link := newFakeLink()
	link.noConn = true
	var mu sync.Mutex
	var held *fakeDelivery
	link.publish = func(d *fakeDelivery) { mu.Lock(); held = d; mu.Unlock() }
	u, _ := start(t, Options{Source: src, Link: link, AckTimeout: 20 * time.Millisecond})
	time.Sleep(100 * time.Millisecond) // five deadlines
	if u.LateAcks() != 0 || u.forced.Load() {
		t.Fatalf("LateAcks = %d, forced = %v after reconnects that found no connection; want 0, false", u.LateAcks(), u.forced.Load())
	}
	mu.Lock()
	d := held
	mu.Unlock()
	d.complete(errLost)
}
