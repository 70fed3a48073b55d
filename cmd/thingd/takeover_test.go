package main

import (
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"thingd/internal/testbed/awsiot"
)

// TestTakeoverStormThenDelivering: another client connects with thingd's client ID ten times in
// a minute, each time taking the connection over as AWS IoT does. Connections that delivered
// something reset the backoff ceiling, so thingd is back within the 5.5 s between intrusions
// each time (every intrusion is a takeover) and delivers telemetry after the last one. With the
// reset removed thingd's ceiling climbs and it was still away for 3 of the 10 (seen: 7 takeovers).
func TestTakeoverStormThenDelivering(t *testing.T) {
	w, b := newAWSWorld(t, awsiot.Options{}, "[[telemetry]]\ntopic = \"dt/{thing}/system\"\ninterval = \"1s\"\n")
	rec, err := b.Subscribe("dt/pi/system")
	if err != nil {
		t.Fatal(err)
	}
	p := w.start(t)
	defer p.stop(t)
	p.notify.waitFor(t, "STATUS=connected", 20*time.Second)

	intrude := func() bool {
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("thingd-test").
			SetTLSConfig(w.pki.ClientTLS(t)).SetCleanSession(true).SetAutoReconnect(false).
			SetConnectTimeout(5 * time.Second))
		tok := c.Connect()
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			return false // refused: thingd connected less than a second ago (1 CONNECT/s)
		}
		time.Sleep(500 * time.Millisecond)
		c.Disconnect(100)
		return true
	}
	done := 0
	for start := time.Now(); done < 10 && time.Since(start) < 60*time.Second; {
		if intrude() {
			done++
			time.Sleep(5 * time.Second)
		} else {
			time.Sleep(1100 * time.Millisecond)
		}
	}
	if done < 10 {
		t.Fatalf("only %d takeovers got through in a minute: %+v", done, b.Stats())
	}
	before := len(rec.Messages())
	if _, err := rec.Wait(before+1, 60*time.Second); err != nil {
		t.Fatalf("no telemetry within 60 s of the last takeover: %v; broker %+v", err, b.Stats())
	}
	if s := b.Stats(); s.Takeovers < 10 {
		t.Fatalf("the broker saw %d takeovers, want at least 10", s.Takeovers)
	}
}
