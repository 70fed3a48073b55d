package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"thingd/daemon/config"
	"thingd/daemon/local"
	"thingd/daemon/status"
	"thingd/internal/testbed"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRunReloadStop: in one process, the supervisor connects, publishes what a producer
// queued, survives a reload, and on cancel stops every goroutine it started (goleak checks
// after the tests).
func TestRunReloadStop(t *testing.T) {
	broker := testbed.StartMosquitto(t, testbed.MosquittoOptions{})
	ntp := testbed.StartChrony(t, testbed.ChronyOptions{})
	rec := broker.Subscribe(t, "dt/pi/#")
	dir := t.TempDir()
	path := filepath.Join(dir, "thingd.toml")
	doc := fmt.Sprintf(`version = 1
[mqtt]
endpoint = "localhost"
port = %d
client_id = "daemon-test"
thing_name = "pi"
ca_file = %q
cert_file = %q
key_file = %q
keepalive = "5s"
max_publish_rate = 0
[clock]
servers = [%q]
step = "never"
state_file = %q
[queue]
dir = %q
[local]
socket = %q
[[telemetry]]
topic = "dt/{thing}/system"
interval = "1s"
[[subscribe]]
topic = "cmd/{thing}/#"
file = %q
`, broker.Port, broker.PKI.CAFile, broker.PKI.DeviceCertFile, broker.PKI.DeviceKeyFile, ntp.Addr,
		filepath.Join(dir, "clock"), filepath.Join(dir, "queue"), filepath.Join(dir, "sock"), filepath.Join(dir, "last-command"))
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	reload := make(chan struct{})
	done := make(chan error)
	go func() {
		done <- Run(ctx, Options{Config: cfg, Logger: zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)),
			Level: zap.NewAtomicLevel(), Reload: reload, Version: "test"})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v after cancel, want nil", err)
		}
	}()

	waitStatus(t, cfg.Local.Socket, func(st status.Status) bool { return st.Connection.Connected && st.Clock.Synced })
	publish(t, cfg.Local.Socket, "dt/{thing}/hello", "one")
	waitFor(t, rec, "dt/pi/hello", "one")
	waitFor(t, rec, "dt/pi/system", "")

	broker.Publish(t, "cmd/pi/led", []byte(`{"led":"on"}`), 1)
	waitFile(t, filepath.Join(dir, "last-command"), `{"led":"on"}`)

	reload <- struct{}{}
	waitStatus(t, cfg.Local.Socket, func(st status.Status) bool { return st.Connection.Connected && st.ReloadError == "" })
	publish(t, cfg.Local.Socket, "dt/{thing}/hello", "two")
	waitFor(t, rec, "dt/pi/hello", "two")
}

func publish(t *testing.T, socket, topic, payload string) {
	t.Helper()
	c, err := local.Dial(socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sent := false
	var resp local.Response
	err = c.Stream(context.Background(), func() (local.Request, bool, bool, error) {
		if sent {
			return local.Request{}, false, false, nil
		}
		sent = true
		return local.Request{Verb: "PUB", QoS: 1, Topic: topic, Payload: []byte(payload)}, true, false, nil
	}, func(_ int, r local.Response) { resp = r })
	if err != nil || !resp.OK {
		t.Fatalf("publish: %v %+v", err, resp)
	}
}

func waitStatus(t *testing.T, socket string, ok func(status.Status) bool) {
	t.Helper()
	var last status.Status
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		c, err := local.Dial(socket)
		if err != nil {
			continue
		}
		raw, err := c.Status()
		c.Close()
		if err == nil && json.Unmarshal(raw, &last) == nil && ok(last) {
			return
		}
	}
	t.Fatalf("status never became what the test waits for: %+v", last)
}

func waitFor(t *testing.T, rec *testbed.Recorder, topic, payload string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, m := range rec.Messages() {
			if m.Topic == topic && (payload == "" || string(m.Payload) == payload) {
				return
			}
		}
	}
	t.Fatalf("no %q on %s", payload, topic)
}

func waitFile(t *testing.T, path, want string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) == want {
			return
		}
	}
	t.Fatalf("%s never held %q", path, want)
}
