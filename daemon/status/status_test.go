package status

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// cases are the states a person meets: connected and synced with a backlog, and a fresh
// boot with a failed reload, no network and no NTP answer.
func cases() map[string]Status {
	return map[string]Status{
		"connected": {
			Version: "1.2.3", Thing: "pi-42", Endpoint: "a1b2c3-ats.iot.eu-west-1.amazonaws.com:8883", Uptime: "3h2m1s",
			Connection: Connection{Connected: true, Since: TimePtr(at("2026-12-04T10:00:00Z")), Reconnects: 2, InFlight: 5},
			Clock: Clock{Synced: true, Now: at("2026-12-04T13:02:01Z"), Offset: "1.234ms", Source: "time.cloudflare.com",
				LastSync: TimePtr(at("2026-12-04T13:00:00Z")), Floor: at("2026-12-01T00:00:00Z"),
				Summary: "clock synced +1.23ms via time.cloudflare.com"},
			Queue:         Queue{Depth: 12, Bytes: 3456, Oldest: TimePtr(at("2026-12-04T13:01:00Z")), OldestAge: "1m1s"},
			Counters:      Counters{Accepted: 100, Published: 88, Dropped: 1, Refused: 2, Corrupt: 0},
			Subscriptions: []string{"cmd/pi-42/#", "$aws/things/pi-42/shadow/update/delta"},
			Jobs:          &Jobs{Current: "update-42", LastJob: "reboot-7", LastStatus: "SUCCEEDED", LastAt: TimePtr(at("2026-12-04T12:00:00Z")), Concluded: 3},
		},
		"boot": {
			Version: "1.2.3", Thing: "pi-42", Endpoint: "a1b2c3-ats.iot.eu-west-1.amazonaws.com:8883", Uptime: "4s",
			Connection: Connection{LastError: "connect to a1b2c3-ats.iot.eu-west-1.amazonaws.com:8883: dial tcp: lookup a1b2c3-ats.iot.eu-west-1.amazonaws.com: no such host"},
			Clock: Clock{Now: at("2026-12-01T00:00:04Z"), Offset: "0s", Floor: at("2026-12-01T00:00:00Z"),
				LastError: "no NTP server answered", Summary: "clock unsynced (floor 2026-12-01T00:00:00Z): no NTP server answered"},
			Subscriptions: []string{"cmd/pi-42/config"},
			HandlerErrors: []string{"subscribe[0] cmd/pi-42/config: file handler /var/lib/app/config.json: directory /var/lib/app: stat /var/lib/app: no such file or directory (create it and let the thingd user write to it)"},
			ReloadError:   "/etc/thingd/thingd.toml:3: mqtt.port: 70000 is not a port\n(fix the file and reload again)",
		},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./daemon/status/ -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (run with -update if the change is intended)\ngot:\n%s\nwant:\n%s", name, path, got, want)
	}
}

// TestGolden: JSON, Text and Line of each case match testdata; -update rewrites them.
func TestGolden(t *testing.T) {
	old := time.Local
	time.Local = time.UTC // Text prints "since" in local time
	defer func() { time.Local = old }()
	for name, st := range cases() {
		t.Run(name, func(t *testing.T) {
			js, err := json.MarshalIndent(st, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, name+".json", append(js, '\n'))
			golden(t, name+".txt", []byte(st.Text()))
			golden(t, name+".line", []byte(st.Line()+"\n"))

			var back Status
			if err := json.Unmarshal(js, &back); err != nil {
				t.Fatal(err)
			}
			if back.Text() != st.Text() || back.Line() != st.Line() {
				t.Errorf("the JSON round trip changes what is printed:\n%s\nvs\n%s", back.Text(), st.Text())
			}
		})
	}
}

// TestEveryCounterIsPrinted: a counter added to Counters shows in Text under its json name,
// so nobody has to remember the printer.
func TestEveryCounterIsPrinted(t *testing.T) {
	var c Counters
	v := reflect.ValueOf(&c).Elem()
	for i := range v.NumField() {
		v.Field(i).SetUint(uint64(1000 + i))
	}
	text := Status{Counters: c}.Text()
	for i := range v.NumField() {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		if want := name + " " + itoa(1000+i); !strings.Contains(text, want) {
			t.Errorf("Text lacks %q:\n%s", want, text)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestZeroTimesOmitted: times that have not happened are absent from the JSON, as they
// were with Go 1.24's omitzero, without needing it.
func TestZeroTimesOmitted(t *testing.T) {
	js, err := json.Marshal(Status{Connection: Connection{Since: TimePtr(time.Time{})}})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"since"`, `"last_sync"`, `"oldest"`} {
		if bytes.Contains(js, []byte(key)) {
			t.Errorf("JSON has %s for a time that never happened: %s", key, js)
		}
	}
}
