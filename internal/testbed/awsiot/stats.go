package awsiot

import (
	"maps"
	"slices"
)

// Stats counts what the broker did since Start.
type Stats struct {
	Connects           int            // CONNECTs accepted
	Takeovers          int            // older connections dropped for a newer one with the same client ID
	DeniedConnects     int            // CONNECTs closed: client ID outside Policy.Connect
	ConnectRateRefused int            // CONNECTs closed: more than 1 per second for one client ID
	DeniedPublishes    []string       // topics of PUBLISHes that closed their connection (policy)
	DeniedSubscribes   []string       // filters answered 0x80 (policy)
	RateDropped        int            // publishes discarded: over 100/s on one connection
	InflightDropped    int            // publishes discarded: 100 PUBACKs already pending
	QoS2Refused        int            // QoS 2 publishes and subscribes left unanswered
	Published          int            // PUBLISHes from clients accepted
	PubacksDropped     int            // PUBACKs not sent (SetPuback)
	PubacksDelayed     int            // PUBACKs sent late (SetPuback)
	Disconnects        map[string]int // closed connections by reason
}

// Stats returns a copy of the counters.
func (b *Broker) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.stats
	s.DeniedPublishes = slices.Clone(s.DeniedPublishes)
	s.DeniedSubscribes = slices.Clone(s.DeniedSubscribes)
	s.Disconnects = maps.Clone(s.Disconnects)
	return s
}
