package session

import (
	"strings"
	"sync"
	"sync/atomic"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// outboundPrefix is paho's key prefix for packets we sent and the broker has to acknowledge:
// an undocumented detail of paho v1.5, checked by TestPahoOutboundKeyPrefix.
const outboundPrefix = "o."

// trackingStore is paho's ordered in-memory store, watched so that each QoS1 publish is tied
// to its Delivery until the PUBACK deletes it from the store.
//
// paho completes a publish token without error when it re-sends the message after a
// reconnect (it replaces the token), so the token cannot tell a PUBACK from a resend. The
// store can: paho deletes the outbound entry exactly when the PUBACK arrives.
type trackingStore struct {
	inner    mqtt.Store
	openOnce sync.Once

	attachSem chan struct{} // holds one token while an attach window is open
	acked     atomic.Int64  // PUBACKs of our publishes

	mu        sync.Mutex
	attach    *Delivery              // set while Session.Publish is inside paho's Publish, until Put
	storedFor map[*Delivery]struct{} // deliveries Put attached, until their endAttach
	pending   map[string]*Delivery   // outbound key -> delivery awaiting PUBACK
	closedErr error                  // set by close: deliveries attached later fail with it
}

func newTrackingStore() *trackingStore {
	return &trackingStore{
		inner:     mqtt.NewOrderedMemoryStore(),
		attachSem: make(chan struct{}, 1),
		storedFor: map[*Delivery]struct{}{},
		pending:   map[string]*Delivery{},
	}
}

// beginAttach ties the next outbound QoS>0 publish stored to d. Attach windows are
// serialized by attachSem: one lasts from here until paho stores the packet (Put) or its
// Publish returns without storing it, never across paho's wait for the connection's writer.
// Only our Publish calls make paho store outbound publishes (resends read the store, they do
// not write it).
func (t *trackingStore) beginAttach(d *Delivery) {
	t.attachSem <- struct{}{}
	t.mu.Lock()
	t.attach = d
	t.mu.Unlock()
}

// endAttach reports whether paho stored d's publish (and so will resend it until PUBACK),
// and ends d's attach window if Put has not ended it already.
func (t *trackingStore) endAttach(d *Delivery) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.attach == d {
		t.attach = nil
		<-t.attachSem
		return false
	}
	_, ok := t.storedFor[d]
	delete(t.storedFor, d)
	return ok
}

// Open opens the inner store once; Close is ignored. Every connection attempt has its own
// paho client, which opens the store on Connect and closes it when it is done, and a late
// Close from a finished client must not close the store under the next one.
func (t *trackingStore) Open() {
	t.openOnce.Do(t.inner.Open)
}

func (t *trackingStore) Close() {}

func (t *trackingStore) Put(key string, cp packets.ControlPacket) {
	t.inner.Put(key, cp)
	pub, ok := cp.(*packets.PublishPacket)
	if !ok || pub.Qos == 0 || !strings.HasPrefix(key, outboundPrefix) {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.attach == nil {
		return
	}
	if old := t.pending[key]; old != nil && old != t.attach {
		// A packet ID is reused only after its PUBACK, so this should not happen; fail the old
		// one rather than leave it waiting forever.
		old.complete(ErrSessionLost)
	}
	d := t.attach
	t.attach = nil
	t.storedFor[d] = struct{}{}
	<-t.attachSem
	if t.closedErr != nil {
		// Run ended while this Publish was under way: nobody resends it.
		d.complete(t.closedErr)
		return
	}
	t.pending[key] = d
}

func (t *trackingStore) Get(key string) packets.ControlPacket { return t.inner.Get(key) }
func (t *trackingStore) All() []string                        { return t.inner.All() }

// Del is paho's "acknowledged" signal: for an outbound publish it runs when the PUBACK
// arrives.
func (t *trackingStore) Del(key string) {
	t.inner.Del(key)
	t.mu.Lock()
	d := t.pending[key]
	delete(t.pending, key)
	t.mu.Unlock()
	if d != nil {
		t.acked.Add(1)
		d.complete(nil)
	}
}

// Reset runs when a clean session starts: paho forgets every unacknowledged message.
func (t *trackingStore) Reset() {
	t.inner.Reset()
	t.failAll(ErrSessionLost)
}

// close fails every pending delivery with err, and every one attached from now on.
func (t *trackingStore) close(err error) {
	t.mu.Lock()
	t.closedErr = err
	t.mu.Unlock()
	t.failAll(err)
}

// failAll completes every pending delivery with err.
func (t *trackingStore) failAll(err error) {
	t.mu.Lock()
	pending := t.pending
	t.pending = map[string]*Delivery{}
	t.mu.Unlock()
	for _, d := range pending {
		d.complete(err)
	}
}

// inFlight is the number of QoS1 publishes waiting for their PUBACK.
func (t *trackingStore) inFlight() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pending)
}
