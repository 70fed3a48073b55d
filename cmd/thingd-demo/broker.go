package main

import (
	"sort"
	"strings"
	"sync"
	"time"

	"thingd/internal/devpki"
	"thingd/internal/testbed/awsiot"
)

// ingestRule is the Basic Ingest rule the demo's producer sends to: $aws/rules/<rule>/...
// reaches the rule without any subscriber seeing it, as on AWS IoT Core.
const ingestRule = "demo_ingest"

// demoPolicy is the IoT policy the demo's broker enforces, the shape AWS's console
// suggests for one thing: its own client ID, its own topics, and Basic Ingest.
func demoPolicy() *awsiot.Policy {
	return &awsiot.Policy{
		Connect: []string{demoThing},
		Publish: []string{"dt/${iot:ClientId}/#", "$aws/rules/" + ingestRule + "/#", shadowTopics,
			"$aws/things/${iot:ClientId}/jobs/start-next", "$aws/things/${iot:ClientId}/jobs/+/update",
			"$aws/certificates/create-from-csr/json", "$aws/provisioning-templates/" + demoTemplate + "/provision/json"},
		Subscribe: []string{"cmd/${iot:ClientId}/#", shadowTopics, "$aws/things/${iot:ClientId}/jobs/#",
			"$aws/certificates/create-from-csr/json/+", "$aws/provisioning-templates/" + demoTemplate + "/provision/json/+"},
		Receive: []string{"cmd/${iot:ClientId}/#", shadowTopics, "$aws/things/${iot:ClientId}/jobs/#",
			"$aws/certificates/create-from-csr/json/+", "$aws/provisioning-templates/" + demoTemplate + "/provision/json/+"},
	}
}

// broker is the test-only AWS-IoT-like broker (internal/testbed/awsiot) with a narrator:
// what it sees of thingd is printed as it happens.
type broker struct {
	*awsiot.Broker
	shadow *awsiot.Shadow       // the Device Shadow service
	jobs   *awsiot.Jobs         // the AWS IoT Jobs service
	prov   *awsiot.Provisioning // fleet provisioning: signs the device's CSR
	stop   chan struct{}
	wg     sync.WaitGroup
}

// Publish sends a QoS 1 message from the cloud side.
func (b *broker) Publish(topic string, payload []byte) error {
	return b.Broker.Publish(topic, payload, 1)
}

// Close stops the narrator, then the broker.
func (b *broker) Close() error {
	close(b.stop)
	b.wg.Wait()
	b.jobs.Close()
	return b.Broker.Close()
}

// startNarratedBroker starts the broker with demoPolicy and prints what it sees of thingd.
// subscribed is closed a moment after thingd has connected, when its subscriptions stand.
func startNarratedBroker(pki *devpki.PKI, out *printer) (*broker, <-chan struct{}, error) {
	srv, err := pki.ServerTLS()
	if err != nil {
		return nil, nil, err
	}
	pol := demoPolicy()
	prov, err := awsiot.NewProvisioning(awsiot.ProvisioningOptions{Templates: map[string]awsiot.Template{
		demoTemplate: {Parameters: []string{"SerialNumber"}, ThingName: demoThing},
	}})
	if err != nil {
		return nil, nil, err
	}
	sh := awsiot.NewShadow()
	jobs := awsiot.NewJobs(awsiot.JobsOptions{})
	ab, err := awsiot.Start(awsiot.Options{ServerTLS: srv, Policy: pol, Services: []awsiot.Service{prov, sh, jobs}})
	if err != nil {
		jobs.Close()
		return nil, nil, err
	}
	jobs.Attach(ab)
	b := &broker{Broker: ab, shadow: sh, jobs: jobs, prov: prov, stop: make(chan struct{})}
	all, err := ab.Subscribe("#")
	if err != nil {
		jobs.Close()
		_ = ab.Close()
		return nil, nil, err
	}
	out.printf(srcBroker, "IoT policy: connect %s; publish %s; subscribe %s; receive %s",
		strings.Join(pol.Connect, ", "), strings.Join(pol.Publish, ", "), strings.Join(pol.Subscribe, ", "), strings.Join(pol.Receive, ", "))
	subscribed := make(chan struct{})
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.narrate(all, ab.Rule(ingestRule), subscribed, out)
	}()
	return b, subscribed, nil
}

// narrate polls the broker's records: awsiot has no event callbacks, and a tenth of a
// second is soon enough for a person reading along.
func (b *broker) narrate(all, ingest *awsiot.Recorder, subscribed chan struct{}, out *printer) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var (
		connected        bool
		connectedAt      time.Time
		seen, seenIngest int
		denied           int
		disconnects      = map[string]int{}
		subscribedClosed bool
		issued           = map[string]bool{} // certificate IDs whose signing was printed
		registered       = map[string]bool{} // and whose RegisterThing was
		seenIDs          int
	)
	for {
		select {
		case <-b.stop:
			return
		case <-tick.C:
		}
		if now := b.Connected(demoThing); now != connected {
			connected = now
			if now {
				connectedAt = time.Now()
				ka, _ := b.Keepalive(demoThing)
				cert := "the claim certificate CN=" + demoClaim
				if ids := b.prov.Seen(); len(ids) > seenIDs {
					seenIDs = len(ids)
					cert = "its own certificate " + shortID(ids[len(ids)-1]) + " from provisioning"
				}
				out.printf(srcBroker, "%s connected with %s, keepalive %ds", demoThing, cert, ka)
			}
		}
		for _, c := range b.prov.Certificates() {
			if !issued[c.ID] {
				issued[c.ID] = true
				out.printf(srcBroker, "fleet provisioning: CreateCertificateFromCsr signed the device's CSR: certificate %s "+
					"(the private key never left the device)", shortID(c.ID))
			}
			if c.ThingName != "" && !registered[c.ID] {
				registered[c.ID] = true
				out.printf(srcBroker, "fleet provisioning: RegisterThing (template %s): thing %s, certificate %s %s",
					demoTemplate, c.ThingName, shortID(c.ID), c.State)
			}
		}
		// thingd subscribes right after CONNACK; awsiot says nothing of SUBSCRIBE, so the
		// cloud waits a moment after the connection.
		if connected && !subscribedClosed && seenIDs > 0 && time.Since(connectedAt) > 500*time.Millisecond {
			subscribedClosed = true
			close(subscribed)
		}
		msgs := all.Messages()
		for _, m := range msgs[seen:] {
			if m.ClientID == "" || strings.HasPrefix(m.Topic, "cmd/") || strings.HasPrefix(m.Topic, "$aws/") {
				continue // the cloud's own commands, printed by the cloud; provisioning, shadow and jobs by their own narrators
			}
			out.printf(srcBroker, "← %s %s %s", m.ClientID, m.Topic, shorten(m.Payload, 120))
		}
		seen = len(msgs)
		rule := ingest.Messages()
		for _, m := range rule[seenIngest:] {
			out.printf(srcBroker, "rule %s ← %s %s %s (Basic Ingest: straight to the rule, no subscriber sees it)",
				ingestRule, m.ClientID, m.Topic, shorten(m.Payload, 120))
		}
		seenIngest = len(rule)
		st := b.Stats()
		for _, topic := range st.DeniedPublishes[denied:] {
			out.printf(srcBroker, "policy denied a publish to %s: connection closed, no PUBACK", topic)
		}
		denied = len(st.DeniedPublishes)
		reasons := make([]string, 0, len(st.Disconnects))
		for r := range st.Disconnects {
			reasons = append(reasons, r)
		}
		sort.Strings(reasons)
		for _, r := range reasons {
			if n := st.Disconnects[r]; n > disconnects[r] {
				out.printf(srcBroker, "%s disconnected: %s", demoThing, r)
				disconnects[r] = n
			}
		}
	}
}

// shortID is the start of a certificate ID (64 hex digits on AWS IoT), enough to tell them apart.
func shortID(id string) string {
	if len(id) > 12 {
		return id[:12] + "…"
	}
	return id
}
