// Package testbed starts the real parts thingd's integration tests talk to (mosquitto with mutual
// TLS, chronyd on loopback, optionally days ahead under libfaketime), never able to set the clock.
//
// Each launcher comes twice: the testing.T one (StartMosquitto, StartChrony, NewPKI) that skips
// when a program is missing, fails the test and stops it in t.Cleanup, and the error-returning one
// it wraps (LaunchMosquitto, LaunchChrony, MakePKI, with Close) for programs such as
// cmd/thingd-bench. A launch that fails names the program, its port or directory and the last
// lines of its log. Every process is stopped by its own PID, never by name.
package testbed
