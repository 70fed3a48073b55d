package limits

import (
	"strings"
)

// AWS IoT's reserved topics a device may publish to (Developer Guide, "Reserved topics").
const (
	rulesPrefix  = "$aws/rules/"
	thingsPrefix = "$aws/things/"
)

// basicIngest splits a Basic Ingest topic $aws/rules/<rule>/<rest> into rest and its prefix,
// or returns topic and "" for any other topic. Rule names are AWS's: 1 to 128 of
// [a-zA-Z0-9_] (API CreateTopicRule, ruleName).
func basicIngest(topic string) (rest, prefix string, err error) {
	after, ok := strings.CutPrefix(topic, rulesPrefix)
	if !ok {
		return topic, "", nil
	}
	rule, rest, found := strings.Cut(after, "/")
	if !name(rule, 128, "_") {
		return "", "", refuse("topic %q: Basic Ingest rule name %q must be 1 to 128 letters, digits or _ (no - or .), as AWS IoT rule names are", topic, rule)
	}
	if !found || rest == "" {
		return "", "", refuse("topic %q: Basic Ingest needs a topic after %s%s/, e.g. %s%s/dt/thing", topic, rulesPrefix, rule, rulesPrefix, rule)
	}
	return rest, rulesPrefix + rule + "/", nil
}

// checkReserved allows, under "$", only what AWS IoT lets a device publish to: its own shadow
// (classic and named), its own jobs and Device Defender metrics, and fleet provisioning.
// AWS IoT closes the connection of a client publishing to any other reserved topic.
func checkReserved(topic, thing string) error {
	if !strings.HasPrefix(topic, "$") {
		return nil
	}
	l := strings.Split(topic, "/")
	switch {
	case l[0] != "$aws" || len(l) < 2:
	case l[1] == "things" && len(l) >= 4:
		if thing == "" {
			return refuse("topic %q is a thing's reserved topic but thing_name is not set; set [mqtt] thing_name", topic)
		}
		if l[2] != thing {
			return refuse("topic %q is reserved for thing %q; this device is thing %q and may publish only to its own $aws/things/%s/... topics", topic, l[2], thing, thing)
		}
		if thingTopic(l[3:]) {
			return nil
		}
		return refuse("topic %q is reserved; under $aws/things/%s/ a device may publish to shadow/{get,update,delete}, shadow/name/<shadow>/{get,update,delete}, jobs/{get,start-next}, jobs/<job-id>/{get,update} and defender/metrics/{json,cbor}", topic, thing)
	case l[1] == "certificates" || l[1] == "provisioning-templates":
		if provisioningTopic(l[1:]) {
			return nil
		}
		return refuse("topic %q is reserved; fleet provisioning accepts $aws/certificates/create/{json,cbor}, $aws/certificates/create-from-csr/{json,cbor} and $aws/provisioning-templates/<template>/provision/{json,cbor}", topic)
	}
	return refuse("topic %q is reserved; the $ topics a device may publish to are $aws/rules/<rule>/... (Basic Ingest), its own $aws/things/<thing>/shadow|jobs|defender topics and the fleet-provisioning topics", topic)
}

// thingTopic checks what follows $aws/things/<thing>/.
func thingTopic(l []string) bool {
	switch l[0] {
	case "shadow":
		if len(l) == 2 {
			return shadowOp(l[1])
		}
		return len(l) == 4 && l[1] == "name" && name(l[2], 64, ":_-") && shadowOp(l[3])
	case "jobs":
		if len(l) == 2 {
			return l[1] == "get" || l[1] == "start-next"
		}
		return len(l) == 3 && name(l[1], 64, "_-") && (l[2] == "get" || l[2] == "update")
	case "defender":
		return len(l) == 3 && l[1] == "metrics" && format(l[2])
	}
	return false
}

// provisioningTopic checks what follows $aws/.
func provisioningTopic(l []string) bool {
	if l[0] == "certificates" {
		return len(l) == 3 && (l[1] == "create" || l[1] == "create-from-csr") && format(l[2])
	}
	return len(l) == 4 && name(l[1], 36, "_-") && l[2] == "provision" && format(l[3])
}

func shadowOp(s string) bool { return s == "get" || s == "update" || s == "delete" }
func format(s string) bool   { return s == "json" || s == "cbor" }

// name reports whether s is 1 to max ASCII letters, digits or characters of extra.
func name(s string, max int, extra string) bool {
	if s == "" || len(s) > max {
		return false
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(extra, r)
		if !ok {
			return false
		}
	}
	return true
}
