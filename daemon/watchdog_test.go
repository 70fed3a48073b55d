package daemon

import "testing"

// A generation whose MQTT session could not be made never connects: the watchdog must stop
// hearing from the session (so systemd restarts thingd) instead of taking "no session yet"
// for a session still waiting for trusted time or its files.
func TestSessionThatCannotBeMadeStopsTheSessionBeat(t *testing.T) {
	var w sessionWatch
	d := &Daemon{}
	if !d.sessionLive(&w) {
		t.Fatal("before any generation the session counts as dead; want alive (nothing started yet)")
	}
	d.gen = &generation{}
	if !d.sessionLive(&w) {
		t.Fatal("a generation still preparing its session counts as dead; want alive")
	}
	d.gen.gaveUp = true
	if d.sessionLive(&w) {
		t.Fatal("a generation that gave up on making its session still beats the watchdog")
	}
}
