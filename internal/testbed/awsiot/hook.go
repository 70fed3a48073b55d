package awsiot

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// hook wires the broker's AWS behaviours into mochi-mqtt; each behaviour lives in its own file.
type hook struct {
	mqtt.HookBase
	b *Broker
}

func (h *hook) ID() string { return "awsiot" }

func (h *hook) Provides(b byte) bool {
	return bytes.Contains([]byte{
		mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnDisconnect,
		mqtt.OnPacketRead, mqtt.OnSubscribed,
	}, []byte{b})
}

// Authentication is the TLS client certificate; authorisation happens in OnPacketRead, where
// a denied PUBLISH can close the connection at any QoS as AWS does.
func (h *hook) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

// OnACLCheck is asked by mochi for subscription filters (already checked in onSubscribe) and,
// with write false, for each message it is about to send: that is iot:Receive.
func (h *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if write || cl.Net.Inline {
		return true
	}
	return h.b.mayReceive(cl, topic)
}

func (h *hook) OnConnect(cl *mqtt.Client, pk packets.Packet) error { return h.b.onConnect(cl, pk) }

func (h *hook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	switch pk.FixedHeader.Type {
	case packets.Publish:
		return h.b.onPublish(cl, pk)
	case packets.Subscribe:
		return h.b.onSubscribe(cl, pk), nil
	}
	return pk, nil
}

func (h *hook) OnSubscribed(cl *mqtt.Client, _ packets.Packet, _ []byte) {
	h.b.subscribed(cl)
}

func (h *hook) OnDisconnect(cl *mqtt.Client, err error, _ bool) {
	if cause := cl.StopCause(); cause != nil {
		err = cause
	}
	b := h.b
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.conns[cl]
	if !ok {
		return
	}
	delete(b.conns, cl)
	reason := c.reason
	switch {
	case reason != "":
	case errors.Is(err, packets.ErrSessionTakenOver):
		reason = "takeover"
	case err == nil || errors.Is(err, io.EOF) || errors.Is(err, packets.CodeDisconnect):
		reason = "client disconnect"
	case errors.Is(err, os.ErrDeadlineExceeded):
		reason = "keepalive timeout" // nothing heard for 1.5 keepalives
	case errors.Is(err, net.ErrClosed):
		reason = "connection closed"
	default:
		reason = err.Error()
	}
	b.stats.Disconnects[reason]++
}

// ignored is a packet mochi processes as nothing (a PUBACK for packet ID 0, which is never in
// flight): the way to swallow a client's packet without an answer and without closing.
func ignored() packets.Packet {
	return packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}}
}

// conn is the broker's view of one connection.
type conn struct {
	id      string
	window  int64 // unix second of the current rate window
	count   int   // publishes in that window
	pending int   // delayed PUBACKs not yet sent
	reason  string
	// subscribing holds the filters of the SUBSCRIBE being processed, which mochi passes to
	// OnACLCheck like topics it sends.
	subscribing map[string]bool
}
