// Package testbed starts the real parts that thingd's integration tests talk to: mosquitto with
// mutual TLS, chronyd as a loopback NTP server, both optionally living days ahead under faketime.
//
// Every process it starts is stopped by PID in t.Cleanup and runs without CAP_SYS_TIME, so no test
// can ever step this machine's clock. Only tests import it; the production binary must not.
package testbed
