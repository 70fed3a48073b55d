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

// CheckPublishTopic refuses a topic AWS IoT would reject for a PUBLISH from thing.
func CheckPublishTopic(topic, thing string) error {
	if err := checkShape(topic); err != nil {
		return err
	}
	if strings.ContainsAny(topic, "+#") {
		return refuse("topic %q contains a wildcard (+ or #); wildcards are for subscriptions, not publishes", topic)
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
	return nil
}

func checkShape(topic string) error {
	switch {
	case topic == "":
		return refuse("topic is empty")
	case !utf8.ValidString(topic):
		return refuse("topic %q is not valid UTF-8", topic)
	case strings.ContainsRune(topic, 0):
		return refuse("topic contains a NUL character")
	case len(topic) > MaxTopicBytes:
		return refuse("topic is %d bytes; AWS IoT accepts at most %d", len(topic), MaxTopicBytes)
	case strings.Count(topic, "/") > MaxTopicSlashes:
		return refuse("topic %q has %d slashes; AWS IoT accepts at most %d", topic, strings.Count(topic, "/"), MaxTopicSlashes)
	}
	return nil
}

// checkReserved allows the thing's own shadow topics and nothing else under "$":
// AWS IoT disconnects a client that publishes to other reserved topics.
func checkReserved(topic, thing string) error {
	if !strings.HasPrefix(topic, "$") {
		return nil
	}
	own := "$aws/things/" + thing + "/shadow/"
	if thing != "" && strings.HasPrefix(topic, own) && len(topic) > len(own) {
		return nil
	}
	return refuse("topic %q is reserved; the only $ topics thingd publishes to are %s...", topic, own)
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
