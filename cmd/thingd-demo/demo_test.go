package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The demo runs the real thingd against its own broker and time source: thingd's built-in
// telemetry and a `thingd pub` message reach the broker over mutual TLS, a command from the
// cloud is handled by thingd's [[subscribe]] file handler, thingd stops with status 0 on
// SIGTERM, and the temporary directory is gone afterwards. No mosquitto or chronyd is needed.
func TestDemoShowsBothDirections(t *testing.T) {
	if testing.Short() {
		t.Skip("builds thingd and runs it for 12s")
	}
	bin := buildThingd(t)
	var buf syncBuffer
	out := &printer{w: &buf, now: time.Now}
	err := run(context.Background(), options{Thingd: bin, Duration: 12 * time.Second, Every: 7 * time.Second}, out)
	text := buf.String()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("demo output:\n%s", text)
		}
	})
	if err != nil {
		t.Fatalf("demo: %v", err)
	}
	for _, want := range []string{
		"broker  │ IoT policy: connect demo-pi; publish dt/${iot:ClientId}/#",
		"broker  │ fleet provisioning: CreateCertificateFromCsr signed the device's CSR: certificate ",
		"broker  │ fleet provisioning: RegisterThing (template demo-fleet): thing demo-pi, certificate ",
		"broker  │ demo-pi connected with its own certificate ",
		"producer│ $ thingd pub --socket",
		`broker  │ ← demo-pi dt/demo-pi/system {"ts":`,
		"broker  │ ← demo-pi dt/demo-pi/hello hello from a local producer",
		`cloud   │ → cmd/demo-pi/led {"led":"on","n":1}`,
		`device  │ handled: last-command.json now holds {"led":"on","n":1}`,
		`cloud   │ → job demo-job-1 created, document {"operation":"say-hello"}`,
		`broker  │ job demo-job-1 SUCCEEDED (exit code 0, output "hello from the job handler")`,
		`cloud   │ → shadow desired thingd.telemetry.interval = "2s" (was 5s)`,
		`device  │ shadow reported thingd.telemetry.interval = "2s": applied live, no reconnect`,
		"thingd  │ INFO\tclock synced",
		"demo    │ thingd exited with status 0",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	m := regexp.MustCompile(`removed (\S+)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatal("output does not say which directory it removed")
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Errorf("%s still exists after the demo (stat: %v)", m[1], err)
	}
}

// A missing thingd binary is an error that says how to build it, before anything starts.
func TestDemoNeedsThingdBinary(t *testing.T) {
	var buf syncBuffer
	err := run(context.Background(), options{Thingd: filepath.Join(t.TempDir(), "thingd"), Every: time.Second}, &printer{w: &buf, now: time.Now})
	if err == nil || !strings.Contains(err.Error(), "make build") {
		t.Fatalf("err = %v, want one naming `make build`", err)
	}
}

func buildThingd(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not in PATH, so thingd cannot be built")
	}
	bin := filepath.Join(t.TempDir(), "thingd")
	cmd := exec.Command(goBin, "build", "-o", bin, "thingd/cmd/thingd")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build thingd: %v\n%s", err, out)
	}
	return bin
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
