package awsiot

import (
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// AWS keepalive bounds under MQTT 3.1.1, in seconds.
const (
	MinKeepalive = 30
	MaxKeepalive = 1200
)

// onConnect applies iot:Connect, 1 CONNECT/s per client ID, takeover counting and the
// keepalive clamp. An error closes the connection without a CONNACK.
func (b *Broker) onConnect(cl *mqtt.Client, _ packets.Packet) error {
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if !allowed(connectList(b.policy), cl.ID, cl.ID) {
		b.stats.DeniedConnects++
		return packets.ErrNotAuthorized
	}
	if last, ok := b.lastConnect[cl.ID]; ok && !b.noLimits && now.Sub(last) < time.Second {
		b.stats.ConnectRateRefused++
		return packets.ErrQuotaExceeded
	}
	b.lastConnect[cl.ID] = now
	if old, ok := b.srv.Clients.Get(cl.ID); ok && !old.Closed() {
		b.stats.Takeovers++
	}
	k := cl.State.Keepalive
	switch {
	case k == 0 || k > MaxKeepalive:
		k = MaxKeepalive
	case k < MinKeepalive:
		k = MinKeepalive
	}
	cl.State.Keepalive = k
	b.keepalive[cl.ID] = k
	b.stats.Connects++
	b.conns[cl] = &conn{id: cl.ID}
	return nil
}

func connectList(p *Policy) []string {
	if p == nil {
		return nil
	}
	return p.Connect
}
