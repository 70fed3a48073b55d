package main

import (
	"archive/zip"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"thingd/daemon/config"
	"thingd/internal/atomicfile"
	"thingd/internal/testbed"
)

const (
	kitEndpoint = "a1b2c3-ats.iot.us-east-1.amazonaws.com"
	kitStart    = "set -e\n# run pub/sub sample app using certificates downloaded in package\n" +
		"python3 aws-iot-device-sdk-python-v2/samples/pubsub.py --endpoint " + kitEndpoint +
		" --ca_file root-CA.crt --cert MyThing.cert.pem --key MyThing.private.key --client_id basicPubSub --topic sdk/test/python --count 0\n"
	kitPolicy = `{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"], "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/sdk/test/python"]},
		{"Effect": "Allow", "Action": "iot:Connect", "Resource": ["arn:aws:iot:us-east-1:123456789012:client/basicPubSub"]}]}`
)

// writeZip writes a zip of name → content; names ending in / are folders.
func writeZip(t *testing.T, path string, files [][2]string) {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for _, f := range files {
		fw, err := w.Create(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fw.Write([]byte(f[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// consoleKit writes a connect kit for MyThing, its files one folder down as the console
// packs them, with a fresh certificate; it returns the zip's path and the cert and key.
func consoleKit(t *testing.T, dir, start string) (zipPath, cert, key string) {
	t.Helper()
	pki := testbed.NewPKI(t, testbed.PKIOptions{})
	certPEM, err := os.ReadFile(pki.DeviceCertFile)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(pki.DeviceKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	zipPath = filepath.Join(dir, "connect_device_package.zip")
	writeZip(t, zipPath, [][2]string{
		{"connect_device_package/", ""},
		{"connect_device_package/MyThing.cert.pem", string(certPEM)},
		{"connect_device_package/MyThing.public.key", "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n"},
		{"connect_device_package/MyThing.private.key", string(keyPEM)},
		{"connect_device_package/MyThing-Policy", kitPolicy},
		{"connect_device_package/start.sh", start},
	})
	return zipPath, string(certPEM), string(keyPEM)
}

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestImportKit (issue 7): importing the console's kit installs the certificate and a
// 0600 key under certs/ beside the config, writes a config the daemon's loader accepts,
// and prints the next two commands.
func TestImportKit(t *testing.T) {
	dir := t.TempDir()
	kitZip, cert, key := consoleKit(t, dir, kitStart)
	cfgPath := filepath.Join(dir, "etc", "thingd.toml")
	out, stderr, code := runThingd(t, nil, "import", "--config", cfgPath, kitZip)
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, stderr)
	}
	t.Logf("stdout:\n%s\nstderr:\n%s", out, stderr)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("the imported config does not load: %v\n%s", err, readString(t, cfgPath))
	}
	certs := filepath.Join(dir, "etc", "certs")
	m := cfg.MQTT
	if m.Endpoint != kitEndpoint || m.ClientID != "basicPubSub" || m.ThingName != "MyThing" || m.Port != 8883 || m.CAFile != "" ||
		m.CertFile != filepath.Join(certs, "MyThing.cert.pem") || m.KeyFile != filepath.Join(certs, "MyThing.private.key") {
		t.Errorf("mqtt section: %+v", m)
	}
	if len(cfg.Telemetry) != 1 || cfg.Telemetry[0].Topic != "dt/MyThing/system" {
		t.Errorf("telemetry: %+v", cfg.Telemetry)
	}
	if readString(t, m.CertFile) != cert || readString(t, m.KeyFile) != key {
		t.Error("installed certificate or key differs from the kit's")
	}
	if got := fileMode(t, m.KeyFile); got != 0o600 {
		t.Errorf("key mode %04o, want 0600", got)
	}
	if got := fileMode(t, m.CertFile); got != 0o644 {
		t.Errorf("cert mode %04o, want 0644", got)
	}
	if got := fileMode(t, certs); got != 0o750 {
		t.Errorf("certs/ mode %04o, want 0750", got)
	}
	text := readString(t, cfgPath)
	for _, want := range []string{"version = 1", `"sdk/test/python"`, "# [[subscribe]]", `cert_file  = "certs/MyThing.cert.pem"`} {
		if !strings.Contains(text, want) {
			t.Errorf("config lacks %q", want)
		}
	}
	for _, want := range []string{"Imported thing MyThing", "thingd check --config " + cfgPath + "\n", "systemctl enable --now thingd"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr, "does not let this device publish to dt/MyThing/system") {
		t.Errorf("no warning about the console policy's topics: %q", stderr)
	}
}

// TestImportRefusesOverwrite: a second import is refused without --force, naming the
// path and changing nothing, and accepted with it; the same cert and key are no conflict.
func TestImportRefusesOverwrite(t *testing.T) {
	dir := t.TempDir()
	first, _, _ := consoleKit(t, dir, kitStart)
	cfgPath := filepath.Join(dir, "thingd.toml")
	if _, stderr, code := runThingd(t, nil, "import", "--config", cfgPath, first); code != 0 {
		t.Fatalf("first import: exit %d: %s", code, stderr)
	}
	before := readString(t, cfgPath)
	if _, stderr, code := runThingd(t, nil, "import", "--config", cfgPath, first); code != 1 ||
		!strings.Contains(stderr, "config "+cfgPath+" already exists") || !strings.Contains(stderr, "--force") {
		t.Errorf("second import: exit %d, %q; want 1 naming %s and --force", code, stderr, cfgPath)
	}

	second := filepath.Join(t.TempDir(), "kit.zip")
	other, cert, _ := consoleKit(t, filepath.Dir(second), strings.Replace(kitStart, kitEndpoint, "other-ats.iot.eu-west-1.amazonaws.com", 1))
	certPath := filepath.Join(dir, "certs", "MyThing.cert.pem")
	_, stderr, code := runThingd(t, nil, "import", "--config", cfgPath, other)
	if code != 1 || !strings.Contains(stderr, "certificate "+certPath+" already exists") {
		t.Errorf("import of another kit: exit %d, %q", code, stderr)
	}
	if readString(t, cfgPath) != before || readString(t, certPath) == cert {
		t.Error("a refused import changed files")
	}
	if _, stderr, code := runThingd(t, nil, "import", "--force", "--config", cfgPath, other); code != 0 {
		t.Fatalf("--force: exit %d: %s", code, stderr)
	}
	if cfg, err := config.Load(cfgPath); err != nil || cfg.MQTT.Endpoint != "other-ats.iot.eu-west-1.amazonaws.com" || readString(t, certPath) != cert {
		t.Errorf("--force did not replace the config and certificate: %v", err)
	}

	// Same certificate and key, config gone (a person deleted it): no conflict.
	if err := os.Remove(cfgPath); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := runThingd(t, nil, "import", "--config", cfgPath, other); code != 0 {
		t.Errorf("re-import of the installed kit: exit %d: %s", code, stderr)
	}
}

// TestImportReplacesPackagedExample: the example config the .deb installs does not
// count as the person's config, so the first import on a fresh install needs no --force.
func TestImportReplacesPackagedExample(t *testing.T) {
	dir := t.TempDir()
	example, err := os.ReadFile(filepath.Join("..", "..", "packaging", "thingd.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(example, []byte(exampleEndpoint)) {
		t.Fatalf("packaging/thingd.toml no longer holds %s: update exampleEndpoint", exampleEndpoint)
	}
	cfgPath := filepath.Join(dir, "thingd.toml")
	if err := os.WriteFile(cfgPath, example, 0o644); err != nil {
		t.Fatal(err)
	}
	kitZip, _, _ := consoleKit(t, dir, kitStart)
	if _, stderr, code := runThingd(t, nil, "import", "--config", cfgPath, kitZip); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if cfg, err := config.Load(cfgPath); err != nil || cfg.MQTT.Endpoint != kitEndpoint {
		t.Errorf("example not replaced: %v", err)
	}
}

// TestImportRefusesBadZips: a zip escaping its folder, or one that is not a kit, is
// refused with the reason and nothing is written.
func TestImportRefusesBadZips(t *testing.T) {
	pki := testbed.NewPKI(t, testbed.PKIOptions{})
	cert, key := readString(t, pki.DeviceCertFile), readString(t, pki.DeviceKeyFile)
	for _, tc := range []struct {
		name  string
		files [][2]string
		want  []string
	}{
		{"path escape", [][2]string{{"MyThing.cert.pem", cert}, {"MyThing.private.key", key}, {"../evil", "x"}},
			[]string{`entry "../evil" escapes`}},
		{"not a kit", [][2]string{{"photo.jpg", "\xff\xd8"}},
			[]string{"no *.cert.pem in this zip", "is this the connect kit from the AWS IoT console?"}},
		{"key of another cert", [][2]string{{"T.cert.pem", cert}, {"T.private.key", readString(t, pki.ClientKeyFile)}},
			[]string{"T.private.key does not go with T.cert.pem"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			kitZip := filepath.Join(dir, "in", "kit.zip")
			if err := os.Mkdir(filepath.Dir(kitZip), 0o755); err != nil {
				t.Fatal(err)
			}
			writeZip(t, kitZip, tc.files)
			etc := filepath.Join(dir, "etc")
			_, stderr, code := runThingd(t, nil, "import", "--config", filepath.Join(etc, "thingd.toml"), kitZip)
			if code != 1 || !strings.Contains(stderr, kitZip) {
				t.Errorf("exit %d, %q; want 1 naming %s", code, stderr, kitZip)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q: %q", w, stderr)
				}
			}
			if _, err := os.Stat(etc); !os.IsNotExist(err) {
				t.Errorf("something was written: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "evil")); !os.IsNotExist(err) {
				t.Error("../evil was written")
			}
		})
	}
	if _, _, code := runThingd(t, nil, "import"); code != 2 {
		t.Errorf("import without a kit: exit %d, want 2", code)
	}
}

// TestImportRelativeConfig: --config relative to the working directory puts certs/
// beside it and the config still loads from elsewhere.
func TestImportRelativeConfig(t *testing.T) {
	dir := t.TempDir()
	kitZip, _, _ := consoleKit(t, dir, kitStart)
	cmd := exec.Command(binary, "import", "--config", "conf/thingd.toml", kitZip)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	cfg, err := config.Load(filepath.Join(dir, "conf", "thingd.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "conf", "certs", "MyThing.private.key"); cfg.MQTT.KeyFile != want || fileMode(t, want) != 0o600 {
		t.Errorf("key file %s, want %s at 0600", cfg.MQTT.KeyFile, want)
	}
}

// TestImportWithoutEndpoint: a start.sh without --endpoint still installs the files but
// exits 1 telling the person to set mqtt.endpoint and where to find it.
func TestImportWithoutEndpoint(t *testing.T) {
	dir := t.TempDir()
	kitZip, _, _ := consoleKit(t, dir, "python3 pubsub.py --client_id basicPubSub\n")
	cfgPath := filepath.Join(dir, "thingd.toml")
	_, stderr, code := runThingd(t, nil, "import", "--config", cfgPath, kitZip)
	if code != 1 || !strings.Contains(stderr, "names no --endpoint") || !strings.Contains(stderr, "set mqtt.endpoint") ||
		!strings.Contains(stderr, "Device data endpoint") || !strings.Contains(stderr, cfgPath) {
		t.Errorf("exit %d, %q", code, stderr)
	}
	if !strings.Contains(readString(t, cfgPath), "# REQUIRED: set mqtt.endpoint") {
		t.Error("config does not say what to fill in")
	}
}

// TestImportRefusesBadEndpoint: a start.sh whose endpoint is not a hostname is refused
// with the reason, and nothing is written (no certificate, no key, no config).
func TestImportRefusesBadEndpoint(t *testing.T) {
	for _, e := range []string{"$ENDPOINT", "https://a1b2-ats.iot.eu-west-1.amazonaws.com", "a1b2_ats.iot.eu-west-1.amazonaws.com:8883"} {
		dir := t.TempDir()
		kitZip, _, _ := consoleKit(t, dir, "python3 pubsub.py -e "+e+" --client_id basicPubSub\n")
		cfgPath := filepath.Join(dir, "etc", "thingd.toml")
		_, stderr, code := runThingd(t, nil, "import", "--config", cfgPath, kitZip)
		if code == 0 || !strings.Contains(stderr, "not a hostname") || !strings.Contains(stderr, e) || !strings.Contains(stderr, "nothing was written") {
			t.Errorf("endpoint %s: exit %d, %q", e, code, stderr)
		}
		if _, err := os.Stat(filepath.Join(dir, "etc")); !os.IsNotExist(err) {
			t.Errorf("endpoint %s: import wrote into %s", e, filepath.Join(dir, "etc"))
		}
	}
}

// TestInstallHelpers: certs/ gets mode 0750 and the service's group whatever the umask,
// and an atomic write replaces a file in place without leaving temporary files.
func TestInstallHelpers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown to another group needs root")
	}
	dir := filepath.Join(t.TempDir(), "etc", "certs")
	if err := makeCertsDir(dir, 65534, true); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o750 || st.Sys().(*syscall.Stat_t).Gid != 65534 {
		t.Errorf("certs/ mode %04o gid %d, want 0750 and 65534", st.Mode().Perm(), st.Sys().(*syscall.Stat_t).Gid)
	}
	key := filepath.Join(dir, "k")
	for _, content := range []string{"old", "new"} {
		if err := atomicfile.Write(key, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if got := readString(t, key); got != "new" || fileMode(t, key) != 0o600 {
		t.Errorf("content %q mode %04o", got, fileMode(t, key))
	}
	if names, _ := os.ReadDir(dir); len(names) != 1 {
		t.Errorf("leftovers in %s: %v", dir, names)
	}
}
