package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMissingHandlerDirectoryKeepsTelemetryFlowing: a [[subscribe]] file handler whose
// directory does not exist yet. thingd still connects and publishes, names the directory in
// `thingd status`, refuses the commands (left for the broker to send again) and writes the
// first one that comes after the directory appears. Before, the session was never made: no
// telemetry at all until a restart.
func TestMissingHandlerDirectoryKeepsTelemetryFlowing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "app")
	target := filepath.Join(dir, "command.json")
	w := newWorld(t, worldOptions{Extra: fmt.Sprintf("[[subscribe]]\ntopic = \"cmd/{thing}/#\"\nfile = %q\n", target)})
	rec := w.broker.Subscribe(t, "dt/pi/#")
	p := w.start(t)
	defer p.stop(t)
	p.notify.waitFor(t, "STATUS=connected", 30*time.Second)

	if out, errOut, code := runThingd(t, nil, "pub", "--socket", w.socket, "--qos", "1", "--topic", "dt/{thing}/up", "--message", "still here"); code != 0 {
		t.Fatalf("thingd pub: exit %d: %s%s", code, out, errOut)
	}
	if got := rec.Wait(t, 1, 30*time.Second); string(got[0].Payload) != "still here" {
		t.Fatalf("broker got %+v", got)
	}
	out, _, _ := runThingd(t, nil, "status", "--socket", w.socket)
	if !strings.Contains(out, "NOT READY") || !strings.Contains(out, dir) {
		t.Fatalf("thingd status does not name the missing directory %s:\n%s", dir, out)
	}

	w.broker.Publish(t, "cmd/pi/set", []byte("before"), 1)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The handler is built again at most every 5 s when a message comes; keep sending.
	for i := 0; ; i++ {
		if b, err := os.ReadFile(target); err == nil && strings.HasPrefix(string(b), "after") {
			break
		}
		if i == 60 {
			t.Fatalf("no command written 30 s after %s appeared", dir)
		}
		w.broker.Publish(t, "cmd/pi/set", []byte(fmt.Sprint("after ", i)), 1)
		time.Sleep(500 * time.Millisecond)
	}
	if !strings.Contains(p.log.String(), "handler cannot be built") {
		t.Errorf("the journal does not say the handler cannot be built:\n%s", p.log.String())
	}
}
