package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"thingd/daemon/local"
	"thingd/daemon/shadow"
)

// shadowCmd is `thingd shadow get|update|delete [--name N]`: local programs read a shadow
// of the thing through the running daemon's connection, and update or delete one through
// its durable queue, so a request made offline goes out once the device is back.
func shadowCmd(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usagef("shadow: need get, update or delete (thingd shadow get [--name N])")
	}
	op := args[0]
	fs := newFlags("shadow "+op, e)
	socket := socketFlags(fs)
	name := fs.String("name", "", "the named shadow; empty for the thing's classic shadow")
	var message, file *string
	if op == "update" {
		message = fs.String("message", "", `the update request document, e.g. {"state":{"reported":{"x":1}}}`)
		file = fs.String("file", "", "read the update request document from this file")
	}
	if err := parse(fs, args[1:], 0); err != nil {
		return err
	}
	if strings.ContainsAny(*name, "/+# ") || len(*name) > 64 || strings.HasPrefix(*name, "$") {
		return usagef("shadow: --name %q is not a shadow name (1 to 64 of a-z A-Z 0-9 : _ -)", *name)
	}
	topic := shadow.Topic("{thing}", *name)
	switch op {
	case "get":
		c, err := socket.dial()
		if err != nil {
			return err
		}
		defer c.Close()
		doc, err := c.ShadowGet(*name)
		if err != nil {
			return fmt.Errorf("shadow get: %w", err)
		}
		var answer struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(doc, &answer)
		if answer.Code != 0 {
			return exitError{code: exitFailure, err: fmt.Errorf("shadow get: AWS refused (%d): %s", answer.Code, answer.Message)}
		}
		var out bytes.Buffer
		if err := json.Indent(&out, doc, "", "  "); err != nil {
			return fmt.Errorf("shadow get: unexpected answer: %w", err)
		}
		out.WriteByte('\n')
		_, err = e.stdout.Write(out.Bytes())
		return err
	case "update":
		if isSet(fs, "message") == (*file != "") {
			return usagef("shadow update: need exactly one of --message or --file")
		}
		payload := []byte(*message)
		if *file != "" {
			var err error
			if payload, err = os.ReadFile(*file); err != nil {
				return fmt.Errorf("shadow update: read --file: %w", err)
			}
		}
		var req struct {
			State json.RawMessage `json:"state"`
		}
		if err := json.Unmarshal(payload, &req); err != nil || len(req.State) == 0 {
			return usagef(`shadow update: the document must be JSON with a "state" object, like {"state":{"reported":{"x":1}}}`)
		}
		return queueShadow(ctx, socket, topic+"/update", payload, e)
	case "delete":
		return queueShadow(ctx, socket, topic+"/delete", []byte("{}"), e)
	}
	return usagef("shadow: %q is not get, update or delete", op)
}

// queueShadow queues one request durably; AWS's answer goes to the .../accepted or
// .../rejected topic, which a program may subscribe to.
func queueShadow(ctx context.Context, socket socketFlag, topic string, payload []byte, e *env) error {
	c, err := socket.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	sent := false
	var refused string
	err = c.Stream(ctx, func() (local.Request, bool, bool, error) {
		if sent {
			return local.Request{}, false, false, nil
		}
		sent = true
		return local.Request{Verb: "PUB", QoS: 1, Topic: topic, Payload: payload}, true, false, nil
	}, func(_ int, r local.Response) {
		if !r.OK {
			refused = r.Text
		}
	})
	if err != nil {
		return fmt.Errorf("shadow: %w", err)
	}
	if refused != "" {
		return exitError{code: exitFailure, err: fmt.Errorf("shadow: not queued: %s", refused)}
	}
	fmt.Fprintf(e.stdout, "queued %s\n", strings.TrimPrefix(topic, "$aws/things/{thing}/"))
	return nil
}
