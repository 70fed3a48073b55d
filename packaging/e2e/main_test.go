package e2e

import (
	"os"
	"runtime"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// requireE2E skips unless the caller asked for the end-to-end test: it debootstraps a
// Debian root (once), needs root and takes a minute, so plain `go test ./...` leaves it out.
func requireE2E(t *testing.T) {
	t.Helper()
	if os.Getenv("THINGD_E2E") != "1" {
		t.Skip("end-to-end test under systemd-nspawn: run `make e2e` (or THINGD_E2E=1 go test ./packaging/e2e/)")
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skipf("the e2e test boots the amd64 .deb natively; this is %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	if os.Geteuid() != 0 {
		t.Fatal("the e2e test needs root (debootstrap, systemd-nspawn, nsenter): run it as root or with sudo")
	}
}
