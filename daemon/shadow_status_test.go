package daemon

import (
	"testing"
	"time"

	"thingd/daemon/status"
)

// The shadow's reported state carries the dead letters: an operator sees in the console that a
// device holds messages its policy refuses.
func TestShadowStatusReportsDeadLetters(t *testing.T) {
	st := status.Status{DeadLetters: status.DeadLetters{Count: 2, Dropped: 1,
		Last: &status.DeadLetter{Seq: 7, Topic: "dt/pi/secret", Reason: "policy denied publish"}}}
	out := shadowStatus(st, time.Time{})
	dl, ok := out["dead_letters"].(map[string]any)
	if !ok || dl["count"] != 2 || dl["dropped"] != uint64(1) || dl["last_topic"] != "dt/pi/secret" || dl["last_reason"] != "policy denied publish" {
		t.Fatalf("dead_letters = %#v", out["dead_letters"])
	}
}
