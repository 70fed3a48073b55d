package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"thingd/internal/testbed"
)

func pubsubArgs(t *testing.T, broker *testbed.Mosquitto, cert string) []string {
	t.Helper()
	return []string{"pubsub", "--endpoint", "localhost", "--port_override", strconv.Itoa(broker.Port),
		"--ca_file", broker.PKI.CAFile, "--cert", cert, "--key", broker.PKI.DeviceKeyFile,
		"--client_id", "basicPubSub", "--topic", "sdk/test/python", "--count", "3", "--message", "I am RaspberryPi"}
}

// TestPubSubLikeTheSDKSample (issue 3's acceptance): the seed's command with `thingd`
// in place of the sample prints three received messages and exits 0; a missing
// certificate exits non-zero naming the file.
func TestPubSubLikeTheSDKSample(t *testing.T) {
	broker := testbed.StartMosquitto(t, testbed.MosquittoOptions{})
	out, stderr, code := runThingd(t, nil, pubsubArgs(t, broker, broker.PKI.DeviceCertFile)...)
	if code != 0 || strings.Count(out, "Received message") != 3 || !strings.Contains(out, "I am RaspberryPi 3") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	missing := filepath.Join(t.TempDir(), "nope.cert.pem")
	out, stderr, code = runThingd(t, nil, pubsubArgs(t, broker, missing)...)
	if code == 0 || !strings.Contains(out+stderr, missing) || !strings.Contains(out+stderr, "--cert") ||
		strings.Contains(out+stderr, "mqtt.cert_file") {
		t.Errorf("missing cert: exit %d, output %q %q; want the path and the --cert flag named", code, out, stderr)
	}
}

// TestPubSubOnARMv7: the same round trip with the armv7 binary under qemu-arm-static,
// the Pi 2/3's architecture.
func TestPubSubOnARMv7(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-build and emulation")
	}
	qemu := testbed.Require(t, "qemu-arm-static", "qemu-user-static")
	bin := filepath.Join(t.TempDir(), "thingd-armv7")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	build.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm", "GOARM=7", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("cross-build: %v\n%s", err, out)
	}
	broker := testbed.StartMosquitto(t, testbed.MosquittoOptions{})
	cmd := exec.Command(qemu, append([]string{bin}, pubsubArgs(t, broker, broker.PKI.DeviceCertFile)...)...)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Count(string(out), "Received message") != 3 {
		t.Fatalf("armv7 under qemu (host %s): %v\n%s", runtime.GOARCH, err, out)
	}
	if fo, _ := exec.Command("file", bin).Output(); len(fo) > 0 && !strings.Contains(string(fo), "ARM") {
		t.Errorf("not an ARM binary: %s", fo)
	}
}
