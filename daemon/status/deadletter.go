package status

import (
	"fmt"
	"strings"
	"time"
)

// DeadLetters are the messages the broker refused for good, kept beside the queue until a
// person retries or discards them (docs/deadletter.md).
type DeadLetters struct {
	Count   int         `json:"count"`
	Dropped uint64      `json:"dropped"` // dropped to stay within the store's bounds, since start
	Last    *DeadLetter `json:"last,omitempty"`
}

// DeadLetter is the newest dead letter.
type DeadLetter struct {
	Seq    uint64    `json:"seq"`
	Topic  string    `json:"topic"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// deadLetterHelp tells a person what to do about dead letters.
const deadLetterHelp = "thingd deadletter list; after fixing the IoT policy: thingd deadletter retry all; or: thingd deadletter discard all"

// text is the "deadletters" block of Text, empty when there is nothing to say.
func (d DeadLetters) text() string {
	if d.Count == 0 && d.Dropped == 0 {
		return ""
	}
	var w strings.Builder
	fmt.Fprintf(&w, "deadletters %d kept", d.Count)
	if d.Dropped > 0 {
		fmt.Fprintf(&w, ", %d dropped (store full)", d.Dropped)
	}
	fmt.Fprintln(&w)
	if l := d.Last; l != nil {
		fmt.Fprintf(&w, "            last: seq %d on %s at %s: %s\n", l.Seq, l.Topic, l.At.Local().Format(time.RFC3339), l.Reason)
	}
	fmt.Fprintf(&w, "            %s\n", deadLetterHelp)
	return w.String()
}

// line is the STATUS= part, empty when there are none.
func (d DeadLetters) line() string {
	if d.Count == 0 {
		return ""
	}
	return fmt.Sprintf("; dead letters %d (thingd deadletter list)", d.Count)
}
