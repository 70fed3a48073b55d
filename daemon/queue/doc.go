// Package queue is thingd's durable on-disk message queue: producers append, the MQTT
// publisher drains it in order and acknowledges, and nothing acknowledged to a producer is lost.
//
// The layout and crash semantics are described in docs/queue.md.
package queue
