package awsiot

// Service is an AWS service living on reserved topics (Basic Ingest now; Device Shadow, Jobs
// and fleet provisioning later). The broker offers it every accepted publish whose topic it
// Handles; the service answers with replies (published to subscribers as AWS would, e.g. on
// .../accepted or .../rejected) and says whether the original is also delivered to subscribers.
type Service interface {
	Handles(topic string) bool
	Handle(clientID, topic string, payload []byte) (replies []Message, deliver bool)
}

// service returns the service owning topic, or nil.
func (b *Broker) service(topic string) Service {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.services {
		if s.Handles(topic) {
			return s
		}
	}
	return nil
}
