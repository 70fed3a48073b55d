package check

import (
	"fmt"
	"strings"
	"testing"

	"thingd/daemon/config"
)

var sample = []Result{
	pass("config", "/etc/thingd/thingd.toml: endpoint x:8883", map[string]any{"path": "/etc/thingd/thingd.toml"}),
	warn("ntp", "time.aws.com: no usable answer", "let UDP out", map[string]any{"server": "time.aws.com", "step": "shadowed"}),
	fail("key_file", "private key file /k: no such file", "put the key there", nil),
	skip("tls", "the certificate, key or CA file did not load"),
}

// TestPrint: one line per step with its status, step, detail and (unless it passed) the
// fix, a summary, and colour only when asked for.
func TestPrint(t *testing.T) {
	var b strings.Builder
	if err := Print(&b, sample, false); err != nil {
		t.Fatal(err)
	}
	want := `pass  config     /etc/thingd/thingd.toml: endpoint x:8883
warn  ntp        time.aws.com: no usable answer; fix: let UDP out
fail  key_file   private key file /k: no such file; fix: put the key there
skip  tls        the certificate, key or CA file did not load
1 passed, 1 warning, 1 failed, 1 skipped
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	_ = Print(&b, sample, true)
	if !strings.Contains(b.String(), "\x1b[31mfail\x1b[0m  key_file") || !strings.Contains(b.String(), "\x1b[32mpass") {
		t.Errorf("no colours with color=true:\n%q", b.String())
	}
}

// TestJSON: an array of flat objects, step/status/detail/fix first, data beside them and
// never shadowing them; an empty run is [] rather than null.
func TestJSON(t *testing.T) {
	var b strings.Builder
	if err := JSON(&b, sample); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "[\n  {\n    \"step\": \"config\",\n    \"status\": \"pass\",\n    \"detail\"") {
		t.Errorf("fixed fields do not come first:\n%s", b.String())
	}
	objs := jsonObjects(t, sample)
	if objs[0]["path"] != "/etc/thingd/thingd.toml" || objs[1]["step"] != "ntp" || objs[1]["server"] != "time.aws.com" ||
		objs[2]["fix"] != "put the key there" || objs[0]["fix"] != nil {
		t.Errorf("objects = %v", objs)
	}
	b.Reset()
	_ = JSON(&b, nil)
	if b.String() != "[]\n" {
		t.Errorf("empty run = %q", b.String())
	}
}

// TestConfigFailed: a config that does not load is one failing line per problem, each
// naming the file, the line and the key.
func TestConfigFailed(t *testing.T) {
	doc := "version = 1\n[mqtt]\nendpoint = \"x\"\nclient_id = \"pi\"\nport = \"8883\"\nkeep_alive = \"1s\"\n"
	_, err := config.Parse("/etc/thingd/thingd.toml", []byte(doc))
	if err == nil {
		t.Fatal("config parsed")
	}
	rs := ConfigFailed("/etc/thingd/thingd.toml", err)
	if len(rs) == 0 {
		t.Fatal("no results")
	}
	for _, r := range rs {
		if r.Step != "config" || r.Status != StatusFail || !strings.Contains(r.Detail, "/etc/thingd/thingd.toml:") || r.Data["line"] == nil {
			t.Errorf("%+v", r)
		}
	}
	rs = ConfigFailed("/nope.toml", fmt.Errorf("%w: /nope.toml", config.ErrNotFound))
	if len(rs) != 1 || !strings.Contains(rs[0].Fix, "thingd import") || !Failed(rs) {
		t.Errorf("%+v", rs)
	}
	if Failed([]Result{skip("x", "y"), warn("a", "b", "c", nil)}) {
		t.Error("skips and warnings alone count as failure")
	}
}
