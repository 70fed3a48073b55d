package kit

import (
	"errors"
	"testing"
)

// TestAllows: the console's default policy allows the samples' topics and client IDs
// and nothing else; wildcards, policy variables and explicit denies are honoured.
func TestAllows(t *testing.T) {
	console := &Kit{Thing: "MyThing", Policy: consolePolicy}
	open := &Kit{Thing: "MyThing", Policy: `{"Statement": {"Effect": "Allow", "Action": "iot:*", "Resource": "*"}}`}
	scoped := &Kit{Thing: "MyThing", ClientID: "c1", Policy: `{"Statement": [
		{"Effect": "Allow", "Action": ["iot:Pub*", "iot:Connect"], "Resource": [
			"arn:aws:iot:*:*:topic/dt/${iot:Connection.Thing.ThingName}/*",
			"arn:aws:iot:eu-west-1:1:client/${iot:ClientId}"]},
		{"Effect": "Deny", "Action": "iot:Publish", "Resource": "arn:aws:iot:*:*:topic/dt/*/secret"}]}`}
	for _, tc := range []struct {
		kit              *Kit
		action, resource string
		want             bool
	}{
		{console, "iot:Publish", "topic/sdk/test/python", true},
		{console, "iot:Publish", "topic/dt/MyThing/system", false},
		{console, "iot:Subscribe", "topic/sdk/test/python", false},
		{console, "iot:Connect", "client/basicPubSub", true},
		{console, "iot:Connect", "client/sdk-nodejs-42", true},
		{console, "iot:Connect", "client/MyThing", false},
		{open, "iot:Publish", "topic/anything/at/all", true},
		{scoped, "iot:Publish", "topic/dt/MyThing/system", true},
		{scoped, "iot:Publish", "topic/dt/Other/system", false},
		{scoped, "iot:Publish", "topic/dt/MyThing/secret", false},
		{scoped, "iot:Connect", "client/c1", true},
		{scoped, "iot:Connect", "client/c2", false},
	} {
		got, err := tc.kit.Allows(tc.action, tc.resource)
		if err != nil || got != tc.want {
			t.Errorf("%s %s under %.40q: %v, %v; want %v", tc.action, tc.resource, tc.kit.Policy, got, err, tc.want)
		}
	}
	if _, err := (&Kit{}).Allows("iot:Publish", "topic/x"); !errors.Is(err, ErrNoPolicy) {
		t.Errorf("no policy: %v", err)
	}
	if _, err := (&Kit{Policy: "not json"}).Allows("iot:Publish", "topic/x"); err == nil {
		t.Error("a policy that is not JSON was accepted")
	}
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"a*c", "abbbc", true}, {"a*c", "abbb", false}, {"a?c", "abc", true},
		{"*/x/*", "a/x/b", true}, {"sdk-nodejs-*", "sdk-nodejs-", true}, {"ab", "abc", false},
		{"a*b*c", "aXbYbZc", true}, {"", "a", false},
	} {
		if got := glob(tc.p, tc.s); got != tc.want {
			t.Errorf("glob(%q, %q) = %v", tc.p, tc.s, got)
		}
	}
}
