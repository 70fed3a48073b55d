package status

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestDeadLettersGolden: a device with a refused message says so in every view, with the
// commands that deal with it; with none, Text and Line say nothing about dead letters.
func TestDeadLettersGolden(t *testing.T) {
	old := time.Local
	time.Local = time.UTC
	defer func() { time.Local = old }()
	st := cases()["connected"]
	st.DeadLetters = DeadLetters{Count: 1, Last: &DeadLetter{Seq: 51, Topic: "dt/pi-42/denied",
		Reason: "the broker closed the connection within 5s of this message, sent alone, 3 times in a row without a PUBACK",
		At:     at("2026-12-04T13:01:30Z")}}
	js, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "deadletter.json", append(js, '\n'))
	golden(t, "deadletter.txt", []byte(st.Text()))
	golden(t, "deadletter.line", []byte(st.Line()+"\n"))
	if !strings.Contains(st.Text(), "thingd deadletter retry all") {
		t.Errorf("Text does not say how to retry:\n%s", st.Text())
	}
	none := cases()["connected"]
	if strings.Contains(none.Text(), "deadletter") || strings.Contains(none.Line(), "dead letter") {
		t.Errorf("no dead letters, yet:\n%s\n%s", none.Text(), none.Line())
	}
}
