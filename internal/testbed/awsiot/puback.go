package awsiot

import (
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// PubackAction is the fate of one QoS 1 PUBACK.
type PubackAction int

const (
	Deliver PubackAction = iota // send the PUBACK at once
	Drop                        // never send it (the message is still delivered)
	Delay                       // send it after the puback delay (SetPubackDelay)
)

// PubackFunc decides for the n-th QoS 1 publish the broker accepted (n counts from 1 over
// all clients). It is called from the publisher's read loop: keep it quick.
type PubackFunc func(clientID, topic string, n uint64) PubackAction

// DropEvery drops the PUBACK of every k-th QoS 1 publish ("drop 1 in 20": DropEvery(20)).
func DropEvery(k uint64) PubackFunc {
	return func(_, _ string, n uint64) PubackAction {
		if k > 0 && n%k == 0 {
			return Drop
		}
		return Deliver
	}
}

// SetPuback replaces the PUBACK decision; nil delivers every PUBACK.
func (b *Broker) SetPuback(f PubackFunc) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.puback = f
}

// SetPubackDelay sets how late a Delay PUBACK is sent (0 means 2 s).
func (b *Broker) SetPubackDelay(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pubackDelay = d
}

// ack sends, drops or delays the PUBACK for packet id of cl.
func (b *Broker) ack(cl *mqtt.Client, id uint16, action PubackAction) {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: id}
	if action == Deliver {
		_ = cl.WritePacket(pk)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch action {
	case Drop:
		b.stats.PubacksDropped++
	case Delay:
		c := b.conns[cl]
		if b.closed || c == nil {
			return
		}
		b.stats.PubacksDelayed++
		c.pending++
		d := b.pubackDelay
		if d <= 0 {
			d = 2 * time.Second
		}
		var t *time.Timer
		t = time.AfterFunc(d, func() {
			b.mu.Lock()
			delete(b.timers, t)
			c.pending--
			b.mu.Unlock()
			_ = cl.WritePacket(pk)
		})
		b.timers[t] = struct{}{}
	}
}
