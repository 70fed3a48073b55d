package kit

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ErrNoPolicy means the kit holds no policy document to check against.
var ErrNoPolicy = errors.New("no policy in the kit")

// Allows tells whether the kit's policy lets this device do action ("iot:Publish")
// on resource, the part of the ARN after the account ("topic/dt/MyThing/system",
// "client/basicPubSub"). The console's default policy allows only the SDK samples'
// topics and client IDs, and AWS IoT drops the connection of a device that steps
// outside its policy: this lets `thingd import` warn before that happens.
func (k *Kit) Allows(action, resource string) (bool, error) {
	if strings.TrimSpace(k.Policy) == "" {
		return false, ErrNoPolicy
	}
	var doc struct {
		Statement oneOrMany[statement]
	}
	if err := json.Unmarshal([]byte(k.Policy), &doc); err != nil {
		return false, fmt.Errorf("the kit's policy is not a JSON policy document: %w", err)
	}
	client := k.ClientID
	if client == "" {
		client = k.Thing
	}
	vars := strings.NewReplacer("${iot:Connection.Thing.ThingName}", k.Thing, "${iot:ClientId}", client)
	allowed := false
	for _, s := range doc.Statement {
		if !s.matches(action, resource, vars) {
			continue
		}
		if strings.EqualFold(s.Effect, "Deny") {
			return false, nil // an explicit deny wins over every allow
		}
		allowed = allowed || strings.EqualFold(s.Effect, "Allow")
	}
	return allowed, nil
}

type statement struct {
	Effect   string
	Action   oneOrMany[string]
	Resource oneOrMany[string]
}

func (s statement) matches(action, resource string, vars *strings.Replacer) bool {
	actionOK := false
	for _, a := range s.Action {
		actionOK = actionOK || glob(strings.ToLower(a), strings.ToLower(action))
	}
	if !actionOK {
		return false
	}
	for _, r := range s.Resource {
		if r == "*" {
			return true
		}
		// arn:aws:iot:REGION:ACCOUNT:RESOURCE; the resource part may itself hold colons.
		parts := strings.SplitN(vars.Replace(r), ":", 6)
		if len(parts) == 6 && glob(parts[2], "iot") && glob(parts[5], resource) {
			return true
		}
	}
	return false
}

// oneOrMany decodes a JSON string or list of strings (policy documents use both).
type oneOrMany[T any] []T

func (o *oneOrMany[T]) UnmarshalJSON(b []byte) error {
	var one T
	if err := json.Unmarshal(b, &one); err == nil {
		*o = oneOrMany[T]{one}
		return nil
	}
	var many []T
	err := json.Unmarshal(b, &many)
	*o = many
	return err
}

// glob matches IAM-style patterns: * is any run of characters, ? any one. Greedy
// with one backtrack point: no recursion, so hostile patterns cost len*len at worst.
func glob(pattern, s string) bool {
	p, i, star, mark := 0, 0, -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p, i = p+1, i+1
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p, mark = star+1, mark+1
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
