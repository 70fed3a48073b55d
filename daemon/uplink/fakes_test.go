package uplink

import (
	"context"
	"fmt"
	"sync"

	"thingd/daemon/queue"
)

// fakeSource is an in-memory queue with the same Next/Ack/Rewind contract as queue.Queue.
type fakeSource struct {
	mu      sync.Mutex
	recs    []queue.Record
	acked   map[uint64]bool
	cursor  int
	rewinds int
	onAck   func(seq uint64)
	changed chan struct{}
}

func newFakeSource(n int) *fakeSource {
	s := &fakeSource{acked: map[uint64]bool{}, changed: make(chan struct{})}
	for i := range n {
		s.recs = append(s.recs, queue.Record{Seq: uint64(i + 1), Message: queue.Message{
			Topic: fmt.Sprintf("t/%d", i+1), QoS: 1, Payload: []byte{byte(i)}}})
	}
	return s
}

func (s *fakeSource) Next(ctx context.Context) (queue.Record, error) {
	for {
		s.mu.Lock()
		for s.cursor < len(s.recs) && s.acked[s.recs[s.cursor].Seq] {
			s.cursor++
		}
		if s.cursor < len(s.recs) {
			r := s.recs[s.cursor]
			s.cursor++
			s.mu.Unlock()
			return r, nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return queue.Record{}, ctx.Err()
		case <-ch:
		}
	}
}

func (s *fakeSource) Ack(seq uint64) {
	if s.onAck != nil {
		s.onAck(seq)
	}
	s.mu.Lock()
	s.acked[seq] = true
	s.mu.Unlock()
}

func (s *fakeSource) Rewind() {
	s.mu.Lock()
	s.cursor = 0
	s.rewinds++
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (s *fakeSource) allAcked() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.acked) == len(s.recs)
}

// fakeDelivery is completed by the test.
type fakeDelivery struct {
	link *fakeLink
	seq  uint64
	done chan struct{}
	once sync.Once
	err  error
}

func (d *fakeDelivery) Done() <-chan struct{} { return d.done }
func (d *fakeDelivery) Err() error {
	select {
	case <-d.done:
		return d.err
	default:
		return nil
	}
}
func (d *fakeDelivery) complete(err error) {
	d.once.Do(func() {
		d.link.mu.Lock()
		d.link.open--
		d.link.mu.Unlock()
		d.err = err
		close(d.done)
	})
}

// fakeLink records every publish; publish decides the outcome of each.
type fakeLink struct {
	up        chan struct{}
	mu        sync.Mutex
	sent      []*fakeDelivery
	open      int // deliveries not yet complete
	maxOpen   int
	publish   func(d *fakeDelivery) // called after recording; may complete d
	reconnect func(reason string)
	// refuse, when set, is asked before each publish; true makes it fail with
	// ErrNotConnected without recording it, as a session that just lost its connection does.
	refuse func() bool
	// noConn makes Reconnect report that no connection was up to drop.
	noConn bool
}

func newFakeLink() *fakeLink {
	l := &fakeLink{up: make(chan struct{})}
	close(l.up)
	return l
}

func (l *fakeLink) Up() <-chan struct{} { return l.up }

func (l *fakeLink) Publish(_ context.Context, topic string, _ byte, _ []byte) (Delivery, error) {
	if l.refuse != nil && l.refuse() {
		return nil, ErrNotConnected
	}
	var seq uint64
	fmt.Sscanf(topic, "t/%d", &seq)
	d := &fakeDelivery{link: l, seq: seq, done: make(chan struct{})}
	l.mu.Lock()
	l.sent = append(l.sent, d)
	l.open++
	l.maxOpen = max(l.maxOpen, l.open)
	l.mu.Unlock()
	if l.publish != nil {
		l.publish(d)
	}
	return d, nil
}

func (l *fakeLink) Reconnect(reason string) bool {
	if l.reconnect != nil {
		l.reconnect(reason)
	}
	return !l.noConn
}

func (l *fakeLink) seqs() []uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []uint64
	for _, d := range l.sent {
		out = append(out, d.seq)
	}
	return out
}

// completeAll settles every open delivery so no fake goroutine outlives a test.
func (l *fakeLink) completeAll(err error) {
	l.mu.Lock()
	sent := append([]*fakeDelivery(nil), l.sent...)
	l.mu.Unlock()
	for _, d := range sent {
		d.complete(err)
	}
}

func (l *fakeLink) stats() (sent, open, maxOpen int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.sent), l.open, l.maxOpen
}
