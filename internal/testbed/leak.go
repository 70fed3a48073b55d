package testbed

import "go.uber.org/goleak"

// LeakOptions are the goleak options for a package whose tests use the test-side MQTT clients
// (Subscribe, Publish). paho documents that Disconnect may return before its own goroutine ends:
// when the broker is already gone, that goroutine waits out the quiesce time to hand over a
// DISCONNECT nobody reads, and ends on its own a moment after Disconnect has returned. Only that
// goroutine is excused; anything else paho or thingd leaves running is still a leak.
func LeakOptions() []goleak.Option {
	return []goleak.Option{goleak.IgnoreAnyFunction("github.com/eclipse/paho%2emqtt%2egolang.(*client).Disconnect.func1")}
}
