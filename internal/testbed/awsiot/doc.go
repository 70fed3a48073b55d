// Package awsiot is a test-only MQTT 3.1.1 broker that behaves like AWS IoT Core where a
// friendly broker (mosquitto) does not, so tests can show what a device meets in the field.
// It is mochi-mqtt with hooks, over mutual TLS with the caller's *tls.Config, on 127.0.0.1:0.
// Every behaviour can be switched per test through Options and the setters, which are safe
// for concurrent use. Never linked into cmd/thingd.
//
// AWS rules it follows, each with the AWS document it comes from:
//
//   - IoT policy (Developer Guide, "AWS IoT Core policies", "Publish/Subscribe policy
//     examples"): allow-lists for iot:Connect (client IDs), iot:Publish, iot:Subscribe and
//     iot:Receive, written as MQTT filters; "${iot:ClientId}" in an entry is replaced by the
//     client's ID. A nil Policy or a nil list allows everything. A CONNECT whose client ID is
//     not allowed is closed without a CONNACK. A PUBLISH outside the publish list closes the
//     connection with no PUBACK (this is what AWS IoT does under 3.1.1, at any QoS). A SUBSCRIBE
//     filter outside the subscribe list gets the SUBACK failure code 0x80 for that filter. A
//     message on a topic outside the receive list is not delivered to that client.
//   - Client-ID takeover (Developer Guide, "MQTT", "client IDs"): a second connection with
//     the same client ID drops the older one; counted in Stats.Takeovers.
//   - Quotas (AWS General Reference, "AWS IoT Core endpoints and quotas", message broker):
//     "Maximum inbound unacknowledged messages" is 100 per client: once 100 QoS 1 publishes
//     wait for their PUBACK (see SetPuback with Delay), AWS accepts no new message from that
//     client until it acks, so the excess is discarded without PUBACK (Stats.InflightDropped);
//     the connection stays up. "Publish requests per second per connection" is 100: the excess
//     in a one-second window is discarded without PUBACK (Stats.RateDropped). "Connect requests
//     per second per client ID" is 1: a second CONNECT within a second is closed without a
//     CONNACK (Stats.ConnectRateRefused).
//   - Keepalive (Developer Guide, "MQTT", keep alive): under MQTT 3.1.1 AWS uses 30..1200 s; a
//     value below 30 is taken as 30, above 1200 (or 0) as 1200. The broker then closes a client
//     silent for 1.5 times that. Keepalive(clientID) tells what was used.
//   - QoS 2 (Developer Guide, "MQTT", quality of service): not supported; AWS sends no SUBACK
//     for a SUBSCRIBE asking QoS 2 (the client waits in vain; the connection stays up) and no
//     PUBACK/PUBREC for a QoS 2 PUBLISH, which is discarded (Stats.QoS2Refused).
//   - Basic Ingest (Developer Guide, "Reducing messaging costs with Basic Ingest"): a publish
//     to $aws/rules/<rule-name>/... goes to the rule only, is PUBACKed, and is never delivered
//     to any subscriber; Rule(name) records what each rule got.
//   - Lost or late PUBACKs are not an AWS rule but what a lossy link does; SetPuback decides per
//     QoS 1 message to deliver the PUBACK, drop it or delay it (the message itself is delivered
//     to subscribers in every case, as AWS processed it).
//
// Later AWS services on reserved topics (Device Shadow, Jobs, fleet provisioning) plug in as a
// Service (Options.Services): it sees publishes on its topics and answers on accepted/rejected
// topics. The Device Shadow service is NewShadow (shadow.go: classic and named shadows,
// versions, delta, documents, the 8 KB limit).
//
// Known simplifications: one policy for every client (with ${iot:ClientId}); policy entries are
// MQTT filters, not AWS's * and ? wildcards; a message whose PUBACK is dropped or delayed is
// delivered through the in-process client, so subscribers see no publisher ClientID for it.
package awsiot
