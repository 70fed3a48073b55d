// Package testbed starts the real parts thingd's integration tests talk to (mosquitto with mutual
// TLS, chronyd on loopback, optionally days ahead under libfaketime), never able to set the clock.
package testbed
