package main

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"thingd/internal/testbed"
	"thingd/internal/testbed/awsiot"
)

// newAWSWorld is newWorld with the AWS-IoT-like broker instead of mosquitto.
func newAWSWorld(t *testing.T, o awsiot.Options, extra string) (*world, *awsiot.Broker) {
	t.Helper()
	pki := testbed.NewPKI(t, testbed.PKIOptions{})
	cert, err := tls.LoadX509KeyPair(pki.ServerCertFile, pki.ServerKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	o.ServerTLS = &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pki.Pool(),
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}
	b, err := awsiot.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	w := &world{ntp: testbed.StartChrony(t, testbed.ChronyOptions{}), pki: pki, dir: t.TempDir()}
	w.socket = filepath.Join(w.dir, "thingd.sock")
	w.config = filepath.Join(w.dir, "thingd.toml")
	doc := fmt.Sprintf(`version = 1
[mqtt]
endpoint = "localhost"
port = %d
client_id = "thingd-test"
thing_name = "pi"
ca_file = %q
cert_file = %q
key_file = %q
keepalive = "5s"
[clock]
servers = [%q]
step = "never"
state_file = %q
[queue]
dir = %q
[local]
socket = %q
[log]
level = "debug"
%s`, b.Port(), pki.CAFile, pki.DeviceCertFile, pki.DeviceKeyFile, w.ntp.Addr,
		filepath.Join(w.dir, "clock"), filepath.Join(w.dir, "queue"), w.socket, extra)
	if err := os.WriteFile(w.config, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return w, b
}

// TestBasicIngestReachesTheRuleOnly: telemetry thingd publishes to $aws/rules/<rule>/... is
// acknowledged and reaches that rule, while no subscriber (not even "#" or "$aws/rules/#")
// sees it; a topic of 7 slashes after the prefix (10 in all) passes thingd's door because
// AWS does not count the prefix. Mosquitto would deliver the message to the subscribers.
func TestBasicIngestReachesTheRuleOnly(t *testing.T) {
	w, b := newAWSWorld(t, awsiot.Options{Policy: &awsiot.Policy{
		Connect: []string{"thingd-test"},
		Publish: []string{"$aws/rules/device_metrics/#", "dt/pi/#"},
	}}, "")
	all, err := b.Subscribe("#")
	if err != nil {
		t.Fatal(err)
	}
	ingest, err := b.Subscribe("$aws/rules/#")
	if err != nil {
		t.Fatal(err)
	}
	p := w.start(t)
	defer p.stop(t)
	topics := []string{"$aws/rules/device_metrics/dt/{thing}/system", "$aws/rules/device_metrics/a/b/c/d/e/f/g/h"}
	for i, topic := range topics {
		if out, errOut, code := runThingd(t, nil, "pub", "--socket", w.socket, "--qos", "1", "--topic", topic, "--message", fmt.Sprint("m", i)); code != 0 {
			t.Fatalf("thingd pub %s: exit %d: %s%s", topic, code, out, errOut)
		}
	}
	if out, errOut, code := runThingd(t, nil, "pub", "--socket", w.socket, "--qos", "1", "--topic", "dt/{thing}/after", "--message", "after"); code != 0 {
		t.Fatalf("thingd pub: exit %d: %s%s", code, out, errOut)
	}
	got, err := b.Rule("device_metrics").Wait(2, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Topic != "$aws/rules/device_metrics/dt/pi/system" || string(got[0].Payload) != "m0" ||
		got[1].Topic != "$aws/rules/device_metrics/a/b/c/d/e/f/g/h" || string(got[1].Payload) != "m1" {
		t.Fatalf("the rule got %+v", got)
	}
	// dt/pi/after was queued behind the rule's messages: once it arrived, anything that would
	// have been delivered to a subscriber has been.
	if _, err := all.Wait(1, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if m := all.Messages(); len(m) != 1 || m[0].Topic != "dt/pi/after" {
		t.Fatalf("the # subscriber got %+v", m)
	}
	if m := ingest.Messages(); len(m) != 0 {
		t.Fatalf("the $aws/rules/# subscriber got %+v", m)
	}
	s := b.Stats()
	if len(s.DeniedPublishes) != 0 || s.Disconnects["policy denied publish"] != 0 {
		t.Fatalf("the broker denied publishes: %+v", s)
	}
	if k, _ := b.Keepalive("thingd-test"); k != awsiot.MinKeepalive {
		t.Errorf("keepalive %d s; AWS raises thingd's 5 s to %d", k, awsiot.MinKeepalive)
	}
}
