package awsiot

import (
	"strings"
	"sync"
)

const rulesPrefix = "$aws/rules/"

// basicIngest is AWS's Basic Ingest: $aws/rules/<rule-name>/... reaches the rule only.
type basicIngest struct {
	mu    sync.Mutex
	rules map[string]*Recorder
}

func newBasicIngest() *basicIngest { return &basicIngest{rules: map[string]*Recorder{}} }

func (bi *basicIngest) Handles(topic string) bool { return strings.HasPrefix(topic, rulesPrefix) }

func (bi *basicIngest) Handle(clientID, topic string, payload []byte) ([]Message, bool) {
	rule, _, _ := strings.Cut(strings.TrimPrefix(topic, rulesPrefix), "/")
	bi.rule(rule).add(Message{Topic: topic, Payload: append([]byte(nil), payload...), QoS: 1, ClientID: clientID})
	return nil, false
}

func (bi *basicIngest) rule(name string) *Recorder {
	bi.mu.Lock()
	defer bi.mu.Unlock()
	r, ok := bi.rules[name]
	if !ok {
		r = newRecorder()
		bi.rules[name] = r
	}
	return r
}

// Rule is the recorder of what the Basic Ingest rule name received (topic as published,
// with the $aws/rules/name/ prefix). It exists before the first message, so a test may
// Wait on it at once.
func (b *Broker) Rule(name string) *Recorder { return b.ingest.rule(name) }

// RuleMessages is what the rule name received so far.
func (b *Broker) RuleMessages(name string) []Message { return b.ingest.rule(name).Messages() }
