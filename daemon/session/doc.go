// Package session keeps thingd's MQTT 3.1.1 connection to AWS IoT Core alive: mutual TLS, an
// optional HTTP CONNECT proxy, our own reconnect schedule, subscriptions and QoS1 deliveries.
package session

// Why it looks like this:
//
//   - paho's auto-reconnect and connect-retry are off; Run owns the loop so the schedule
//     (exponential backoff with full jitter, see Backoff) is ours and testable.
//   - Each connection attempt gets a new paho client (paho advises against reusing one after
//     its connection ended); one trackingStore lives for the whole Run and every client uses
//     it, with CleanSession=false by default. On every reconnect paho re-sends unacknowledged QoS1 PUBLISH packets with DUP=1 and their
//     original packet IDs, as MQTT 3.1.1 section 4.4 asks of a persistent session. A Delivery
//     returned by Publish therefore survives reconnects and completes on the real PUBACK,
//     however many connections that takes (trackingStore watches paho's store for it). It
//     fails only when the session is gone for good (ErrSessionLost: CleanSession=true and the
//     connection dropped) or when Run ends (ErrClosed). A drain loop needs to rewind its queue
//     only for failed deliveries; rewinding on every reconnect is safe too, it only adds
//     duplicates, which at-least-once allows.
//   - Publish holds no lock across paho's Publish, which can block for the write timeout on
//     a dying connection; the next connection is never held back by it.
//   - Inbound messages arrive in order (paho's OrderMatters) and go, without blocking paho,
//     into one ordered queue for one worker: QoS0 beyond InboxSize is dropped and counted,
//     QoS1 always queued (the broker's in-flight window bounds it); a QoS1 message is
//     acknowledged only after every matching Subscription.Handle accepted it, so a message
//     that was not accepted is delivered again by the broker after a reconnect.
