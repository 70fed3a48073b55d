package provision

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"thingd/daemon/config"
)

func testFiles(t *testing.T) files {
	dir := t.TempDir()
	p := &config.Provisioning{Dir: dir, CertFile: filepath.Join(dir, "device.cert.pem"), KeyFile: filepath.Join(dir, "device.private.key")}
	return filesOf(p)
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return "-"
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRecoverEveryCrashPoint: whatever step a power cut interrupts, recover leaves the old
// files (an old pair "old") or the whole new identity ("new"), never a new key with an old
// certificate, and never a pending file.
func TestRecoverEveryCrashPoint(t *testing.T) {
	type state struct{ key, cert, identity, pkey, pcert, pidentity string }
	cases := []struct {
		name      string
		before    state
		after     state
		completed bool
	}{
		{"key written", state{"old", "old", "-", "new", "-", "-"}, state{"old", "old", "-", "-", "-", "-"}, false},
		{"certificate written", state{"old", "old", "-", "new", "new", "-"}, state{"old", "old", "-", "-", "-", "-"}, false},
		{"identity written", state{"old", "old", "-", "new", "new", "new"}, state{"new", "new", "new", "-", "-", "-"}, true},
		{"key renamed", state{"new", "old", "-", "-", "new", "new"}, state{"new", "new", "new", "-", "-", "-"}, true},
		{"pair renamed", state{"new", "new", "-", "-", "-", "new"}, state{"new", "new", "new", "-", "-", "-"}, true},
		{"nothing yet", state{"-", "-", "-", "-", "-", "-"}, state{"-", "-", "-", "-", "-", "-"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := testFiles(t)
			set := func(path, v string) {
				if v != "-" {
					write(t, path, v)
				}
			}
			b := tc.before
			set(f.key, b.key)
			set(f.cert, b.cert)
			set(f.identity, b.identity)
			set(pending(f.key), b.pkey)
			set(pending(f.cert), b.pcert)
			set(pending(f.identity), b.pidentity)
			completed, err := f.recover()
			if err != nil {
				t.Fatal(err)
			}
			got := state{read(t, f.key), read(t, f.cert), read(t, f.identity), read(t, pending(f.key)), read(t, pending(f.cert)), read(t, pending(f.identity))}
			if got != tc.after || completed != tc.completed {
				t.Fatalf("after recover %+v (completed %v), want %+v (%v)", got, completed, tc.after, tc.completed)
			}
		})
	}
}

func TestSerial(t *testing.T) {
	dir := t.TempDir()
	defer func(a, b string) { serialNumberFile, cpuinfoFile = a, b }(serialNumberFile, cpuinfoFile)
	serialNumberFile, cpuinfoFile = filepath.Join(dir, "serial-number"), filepath.Join(dir, "cpuinfo")
	write(t, cpuinfoFile, "processor\t: 0\nHardware\t: BCM2835\nSerial\t\t: 00000000a1b2c3d4\nModel\t: Raspberry Pi\n")
	if s, err := Serial(); err != nil || s != "00000000a1b2c3d4" {
		t.Fatalf("from cpuinfo: %q %v", s, err)
	}
	write(t, serialNumberFile, "10000000e5f6\x00")
	if s, err := Serial(); err != nil || s != "10000000e5f6" {
		t.Fatalf("from the device tree: %q %v", s, err)
	}
	os.Remove(serialNumberFile)
	write(t, cpuinfoFile, "processor\t: 0\n")
	if _, err := Serial(); err == nil || !strings.Contains(err.Error(), "fixed string") {
		t.Fatalf("no serial: %v", err)
	}
}

func TestParameters(t *testing.T) {
	defer func(f func() ([]net.Interface, error)) { interfaces = f }(interfaces)
	interfaces = func() ([]net.Interface, error) {
		return []net.Interface{
			{Name: "wlan0", HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, 2}},
			{Name: "lo", Flags: net.FlagLoopback},
			{Name: "eth0", HardwareAddr: net.HardwareAddr{0xb8, 0x27, 0xeb, 1, 2, 3}},
		}, nil
	}
	got, err := Parameters(map[string]string{"MAC": "${mac}", "W": "w-${mac:wlan0}", "Fixed": "lab-3"})
	if err != nil {
		t.Fatal(err)
	}
	if got["MAC"] != "b8:27:eb:01:02:03" || got["W"] != "w-02:00:00:00:00:02" || got["Fixed"] != "lab-3" {
		t.Fatalf("%v", got)
	}
	if _, err := Parameters(map[string]string{"X": "${mac:eth9}"}); err == nil || !strings.Contains(err.Error(), "eth9") {
		t.Fatalf("missing interface: %v", err)
	}
	if _, err := Parameters(map[string]string{"X": "${nope}"}); err == nil {
		t.Fatal("unknown placeholder accepted")
	}
}

func TestRejectedErrorFix(t *testing.T) {
	for _, tc := range []struct {
		e    RejectedError
		want string
	}{
		{RejectedError{API: "RegisterThing", Template: "fleet", StatusCode: 404, ErrorCode: "ResourceNotFound"}, "provisioning.template"},
		{RejectedError{API: "RegisterThing", StatusCode: 400, ErrorCode: "InvalidParameters"}, "[provisioning] parameters"},
		{RejectedError{API: "RegisterThing", Template: "fleet", StatusCode: 403, ErrorCode: "AccessDenied"}, "pre-provisioning hook"},
		{RejectedError{API: "CreateCertificateFromCsr", StatusCode: 403, ErrorCode: "AccessDenied"}, "create-from-csr"},
	} {
		if !strings.Contains(tc.e.Error(), tc.want) {
			t.Errorf("%q lacks %q", tc.e.Error(), tc.want)
		}
	}
}

// TestRecoverUnconfirmedRotation: a crash after a rotation put the new pair in place but
// before a connection confirmed it (the old files still kept as .old) goes back to the old
// pair and identity; so does one in the middle of putting them back.
func TestRecoverUnconfirmedRotation(t *testing.T) {
	for _, partly := range []bool{false, true} {
		f := testFiles(t)
		for _, p := range []string{f.key, f.cert, f.identity} {
			write(t, p, "new")
			write(t, p+oldSuffix, "old")
		}
		if partly { // the key was already put back
			if err := os.Rename(f.key+oldSuffix, f.key); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := f.recover(); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{f.key, f.cert, f.identity} {
			if got := read(t, p); got != "old" {
				t.Errorf("partly %v: %s holds %q", partly, filepath.Base(p), got)
			}
			if got := read(t, p+oldSuffix); got != "-" {
				t.Errorf("partly %v: %s.old left", partly, filepath.Base(p))
			}
		}
	}
}

// TestLockExcludesASecondProvisioning: while one process holds the identity directory, a
// second (the unit and a `thingd provision` typed meanwhile) is refused with the fix, so two
// attempts never mix their pending key and certificate.
func TestLockExcludesASecondProvisioning(t *testing.T) {
	f := testFiles(t)
	unlock, err := f.lock()
	if err != nil {
		t.Fatal(err)
	}
	// flock locks belong to the open file description: a second open in this process
	// conflicts just as another process would.
	if _, err := f.lock(); err == nil || !strings.Contains(err.Error(), "systemctl stop thingd") {
		t.Fatalf("second lock: %v", err)
	}
	unlock()
	unlock2, err := f.lock()
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	unlock2()
}

// TestCommitRefusesAMismatchedPair: a pending certificate that is not for the pending key
// is never put in place.
func TestCommitRefusesAMismatchedPair(t *testing.T) {
	f := testFiles(t)
	if _, _, err := f.newKey("a"); err != nil {
		t.Fatal(err)
	}
	write(t, pending(f.cert), "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	if err := f.commit(&config.Identity{ClientID: "x"}); err == nil || !strings.Contains(err.Error(), "not a pair") {
		t.Fatalf("commit: %v", err)
	}
	if read(t, f.identity) != "-" || read(t, f.key) != "-" {
		t.Fatal("a mismatched pair was committed")
	}
}
