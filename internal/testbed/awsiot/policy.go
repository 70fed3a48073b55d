package awsiot

import (
	"slices"
	"strings"
)

// Policy is an IoT policy reduced to allow-lists. Each entry is an MQTT filter ("+" one level,
// "#" the rest) in which "${iot:ClientId}" stands for the client's ID; a nil list allows all,
// an empty non-nil list allows nothing.
type Policy struct {
	Connect   []string // client IDs (iot:Connect)
	Publish   []string // topics a client may publish to (iot:Publish)
	Subscribe []string // filters a client may subscribe to (iot:Subscribe)
	Receive   []string // topics a client may be sent (iot:Receive)
}

func (p *Policy) clone() *Policy {
	if p == nil {
		return nil
	}
	return &Policy{
		Connect:   slices.Clone(p.Connect),
		Publish:   slices.Clone(p.Publish),
		Subscribe: slices.Clone(p.Subscribe),
		Receive:   slices.Clone(p.Receive),
	}
}

func allowed(list []string, clientID, name string) bool {
	if list == nil {
		return true
	}
	for _, f := range list {
		if policyMatch(strings.ReplaceAll(f, "${iot:ClientId}", clientID), name) {
			return true
		}
	}
	return false
}

// policyMatch matches an allow-list filter against a topic, a client ID or a subscription
// filter; in the last case the name's own "+" and "#" are taken literally, so "cmd/#" allows
// subscribing to "cmd/+" but "cmd/a" does not allow "cmd/#".
func policyMatch(filter, name string) bool {
	fl := strings.Split(filter, "/")
	nl := strings.Split(name, "/")
	for i, f := range fl {
		if f == "#" {
			return i < len(nl) || i == len(nl)
		}
		if i >= len(nl) {
			return false
		}
		if f == "+" {
			if nl[i] == "#" {
				return false
			}
			continue
		}
		if f != nl[i] {
			return false
		}
	}
	return len(fl) == len(nl)
}
