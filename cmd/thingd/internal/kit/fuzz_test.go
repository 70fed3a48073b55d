package kit

import (
	"bytes"
	"crypto/tls"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"thingd/daemon/config"
	"thingd/daemon/limits"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzRead from generated zips")

// FuzzRead: no zip makes Read panic or return a kit that breaks its promises.
func FuzzRead(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := Read(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		if !thingName.MatchString(k.Thing) {
			t.Errorf("thing %q", k.Thing)
		}
		if _, err := tls.X509KeyPair(k.Cert, k.Key); err != nil {
			t.Errorf("unchecked key pair: %v", err)
		}
		checkScriptResult(t, k.Endpoint, k.ClientID, k.Topic)
		// Whatever a kit holds, the config rendered from it loads once it names an endpoint.
		if _, err := config.Parse("/etc/thingd/thingd.toml", k.Setup("k.zip", "c", "k").Config); err != nil && k.Endpoint != "" {
			t.Errorf("config from %+v does not load: %v", k, err)
		}
	})
}

// FuzzScript reaches the start.sh parser directly: mutations of a zip's content
// rarely survive its CRC.
func FuzzScript(f *testing.F) {
	f.Add(startSh)
	f.Add("mvn -Dexec.args='--endpoint a.b --client_id c --topic \"t u\"' \\\r\n -e x`\n")
	f.Fuzz(func(t *testing.T, script string) {
		e, id, topic := parseScript(script)
		checkScriptResult(t, e, id, topic)
	})
}

func checkScriptResult(t *testing.T, endpoint, clientID, topic string) {
	t.Helper()
	if endpoint != "" && !validHost(endpoint) {
		t.Errorf("endpoint %q", endpoint)
	}
	if clientID != "" && (limits.CheckClientID(clientID) != nil || !plain(clientID, false)) {
		t.Errorf("client ID %q", clientID)
	}
	if topic != "" && !plain(topic, true) {
		t.Errorf("topic %q", topic)
	}
}

// TestSeedCorpus keeps the FuzzRead seeds: valid kits and each kind of refusal.
// go test -run TestSeedCorpus -update-corpus ./cmd/thingd/internal/kit rewrites them.
func TestSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzRead")
	cert, key := keyPair(t)
	other, _ := keyPair(t)
	seeds := map[string][]byte{
		"kit_root":   zipOf(t, kitEntries("", cert, key)...),
		"kit_folder": zipOf(t, kitEntries("connect_device_package/", cert, key)...),
		"dotdot":     zipOf(t, entry{name: "../evil", body: "x"}),
		"symlink":    zipOf(t, entry{name: "a", body: "/etc", mode: fs.ModeSymlink | 0o777}),
		"not_kit":    zipOf(t, entry{name: "README.md", body: "hello"}),
		"mismatch":   zipOf(t, entry{name: "T.cert.pem", body: other}, entry{name: "T.private.key", body: key}),
		"lying":      lyingHeader(t, 64),
	}
	for name, data := range seeds {
		path := filepath.Join(dir, name)
		if *updateCorpus {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", data), 0o644); err != nil {
				t.Fatal(err)
			}
		} else if _, err := os.Stat(path); err != nil {
			t.Errorf("seed %s missing (go test -run TestSeedCorpus -update-corpus ./cmd/thingd/internal/kit): %v", path, err)
		}
	}
}
