// Package limits holds AWS IoT Core's message limits, so a message that the broker would
// reject is refused at the door with the reason instead of being dropped later in silence.
package limits

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// AWS IoT Core quotas (https://docs.aws.amazon.com/general/latest/gr/iot-core.html).
const (
	MaxPayload      = 128 << 10 // bytes in one PUBLISH payload
	MaxTopicBytes   = 256       // UTF-8 bytes in a topic name or filter
	MaxTopicSlashes = 7         // forward slashes in a topic name or filter
	MaxClientID     = 128       // bytes in a client ID
	MaxInFlight     = 100       // unacknowledged QoS 1 publishes per connection
	MaxPublishRate  = 100       // publishes per second per connection
)

// ErrRefused marks every error from this package so callers can tell a refusal
// (the producer's fault, never retried) from a failure of thingd.
var ErrRefused = errors.New("refused")

func refuse(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, a...))
}

// CheckPayload refuses payloads larger than AWS IoT accepts.
func CheckPayload(n int) error {
	if n > MaxPayload {
		return refuse("payload is %d bytes; AWS IoT accepts at most %d (128 KiB)", n, MaxPayload)
	}
	return nil
}

// CheckQoS refuses QoS 2, which AWS IoT does not support.
func CheckQoS(q int) error {
	if q != 0 && q != 1 {
		return refuse("qos %d is not supported; AWS IoT accepts 0 or 1", q)
	}
	return nil
}

// CheckPublishTopic refuses a topic AWS IoT would reject for a PUBLISH from thing. The Basic
// Ingest prefix $aws/rules/<rule>/ does not count towards the 256-byte and 7-slash limits (AWS
// IoT Core quotas, "Topic size" and "Maximum number of slashes in topic").
func CheckPublishTopic(topic, thing string) error {
	if err := checkString(topic); err != nil {
		return err
	}
	if strings.ContainsAny(topic, "+#") {
		return refuse("topic %q contains a wildcard (+ or #); wildcards are for subscriptions, not publishes", topic)
	}
	rest, prefix, err := basicIngest(topic)
	if err != nil {
		return err
	}
	if err := checkSize(topic, rest, prefix); err != nil {
		return err
	}
	if prefix != "" {
		return nil
	}
	return checkReserved(topic, thing)
}

// CheckFilter refuses a subscription filter AWS IoT would reject.
func CheckFilter(filter, thing string) error {
	if err := checkShape(filter); err != nil {
		return err
	}
	levels := strings.Split(filter, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return refuse("filter %q: # must be a whole level and the last one", filter)
		}
		if strings.Contains(l, "+") && l != "+" {
			return refuse("filter %q: + must be a whole level", filter)
		}
	}
	if strings.HasPrefix(filter, "$") && !strings.HasPrefix(filter, "$aws/") {
		return refuse("filter %q: topics starting with $ are reserved; only $aws/... can be subscribed", filter)
	}
	if strings.HasPrefix(filter, rulesPrefix) {
		return refuse("filter %q: Basic Ingest topics ($aws/rules/...) go to rules only and cannot be subscribed to", filter)
	}
	return nil
}

func checkShape(topic string) error {
	if err := checkString(topic); err != nil {
		return err
	}
	return checkSize(topic, topic, "")
}

func checkString(topic string) error {
	switch {
	case topic == "":
		return refuse("topic is empty")
	case !utf8.ValidString(topic):
		return refuse("topic %q is not valid UTF-8", topic)
	case strings.ContainsRune(topic, 0):
		return refuse("topic contains a NUL character")
	}
	return nil
}

// checkSize applies the size limits to counted, the part of topic after an uncounted prefix.
func checkSize(topic, counted, prefix string) error {
	after := ""
	if prefix != "" {
		after = " after the Basic Ingest prefix " + prefix
	}
	if n := len(counted); n > MaxTopicBytes {
		return refuse("topic is %d bytes%s; AWS IoT accepts at most %d", n, after, MaxTopicBytes)
	}
	if n := strings.Count(counted, "/"); n > MaxTopicSlashes {
		return refuse("topic %q has %d slashes%s; AWS IoT accepts at most %d", topic, n, after, MaxTopicSlashes)
	}
	return nil
}

// CheckClientID refuses client IDs AWS IoT would reject.
func CheckClientID(id string) error {
	switch {
	case id == "":
		return refuse("client ID is empty")
	case len(id) > MaxClientID:
		return refuse("client ID is %d bytes; AWS IoT accepts at most %d", len(id), MaxClientID)
	case strings.HasPrefix(id, "$"):
		return refuse("client ID %q starts with $, which AWS IoT reserves", id)
	}
	return nil
}
