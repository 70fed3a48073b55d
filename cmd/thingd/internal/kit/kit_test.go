package kit

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
)

func read(t *testing.T, data []byte) (*Kit, error) {
	t.Helper()
	return Read(bytes.NewReader(data), int64(len(data)))
}

// TestReadKit: a console kit at the root or one folder down yields the thing name from
// the file names and the endpoint, client ID and topic from start.sh's last command.
func TestReadKit(t *testing.T) {
	cert, key := keyPair(t)
	for _, dir := range []string{"", "connect_device_package/"} {
		t.Run("dir="+dir, func(t *testing.T) {
			entries := append(kitEntries(dir, cert, key),
				entry{name: "__MACOSX/._MyThing.cert.pem", body: "resource fork"})
			if dir != "" {
				entries = append([]entry{{name: dir, mode: fs.ModeDir | 0o755}}, entries...)
			}
			k, err := read(t, zipOf(t, entries...))
			if err != nil {
				t.Fatal(err)
			}
			if k.Thing != "MyThing" || k.Endpoint != testEndpoint || k.ClientID != "basicPubSub" ||
				k.Topic != "sdk/test/python" || k.Script != dir+"start.sh" {
				t.Errorf("got %+v", k)
			}
			if string(k.Cert) != cert || string(k.Key) != key || k.Policy != consolePolicy {
				t.Error("cert, key or policy content differs from the zip's")
			}
		})
	}
}

// TestReadRefuses: every hostile or broken zip is refused with an error that names
// the entry or says what the zip lacks.
func TestReadRefuses(t *testing.T) {
	cert, key := keyPair(t)
	otherCert, _ := keyPair(t)
	kit := func(extra ...entry) []byte { return zipOf(t, append(kitEntries("", cert, key), extra...)...) }
	many := kitEntries("", cert, key)
	for i := len(many); i <= MaxEntries; i++ {
		many = append(many, entry{name: fmt.Sprintf("f%d", i), body: "x"})
	}
	var nine []entry
	for i := range 9 {
		nine = append(nine, entry{name: fmt.Sprintf("big%d", i), body: strings.Repeat("0", MaxEntrySize-10)})
	}
	for _, tc := range []struct {
		name string
		zip  []byte
		is   error
		want string
	}{
		{"dotdot", kit(entry{name: "../evil", body: "x"}), ErrUnsafe, `"../evil" escapes`},
		{"dotdot inside", kit(entry{name: "a/../../evil", body: "x"}), ErrUnsafe, `"a/../../evil" escapes`},
		{"backslash dotdot", kit(entry{name: `..\evil`, body: "x"}), ErrUnsafe, `escapes`},
		{"absolute", kit(entry{name: "/etc/passwd", body: "x"}), ErrUnsafe, `"/etc/passwd" has an absolute path`},
		{"drive", kit(entry{name: `C:\evil`, body: "x"}), ErrUnsafe, "absolute path"},
		{"symlink", kit(entry{name: "link", body: "/etc/shadow", mode: fs.ModeSymlink | 0o777}), ErrUnsafe, `"link" is a symbolic link`},
		{"device", kit(entry{name: "dev", mode: fs.ModeDevice | 0o644}), ErrUnsafe, `"dev" is not a plain file`},
		{"duplicate", kit(entry{name: "MyThing.cert.pem", body: otherCert}), ErrUnsafe, "appears twice"},
		{"too many", zipOf(t, many...), ErrUnsafe, "entries, over the 64"},
		{"entry too big", kit(entry{name: "big", body: strings.Repeat("0", MaxEntrySize+1)}), ErrUnsafe, `"big" is over`},
		{"total too big", kit(nine...), ErrUnsafe, "add up to over"},
		{"lying header", lyingHeader(t, 2<<20), ErrNotKit, `"small"`},
		{"not a zip", []byte("PK\x03\x04 not really"), ErrNotKit, "not a zip file"},
		{"no cert", zipOf(t, entry{name: "README.md", body: "hi"}), ErrNotKit, "no *.cert.pem in this zip (it holds README.md): is this the connect kit from the AWS IoT console?"},
		{"empty", zipOf(t), ErrNotKit, "it is empty"},
		{"no key", zipOf(t, entry{name: "MyThing.cert.pem", body: cert}), ErrNotKit, "no MyThing.private.key"},
		{"two certs", kit(entry{name: "x/Other.cert.pem", body: cert}), ErrNotKit, "several certificates"},
		{"bad thing name", zipOf(t, entry{name: "my thing.cert.pem", body: cert}), ErrNotKit, "does not name a thing"},
		{"cert not PEM", zipOf(t, entry{name: "T.cert.pem", body: "\x30\x82binary"}, entry{name: "T.private.key", body: key}), ErrCertificate, "T.cert.pem holds no PEM data"},
		{"key not PEM", zipOf(t, entry{name: "T.cert.pem", body: cert}, entry{name: "T.private.key", body: "secret"}), ErrCertificate, "T.private.key holds no PEM private key"},
		{"swapped", zipOf(t, entry{name: "T.cert.pem", body: key}, entry{name: "T.private.key", body: cert}), ErrCertificate, "PRIVATE KEY block where a CERTIFICATE"},
		{"mismatch", zipOf(t, entry{name: "T.cert.pem", body: otherCert}, entry{name: "T.private.key", body: key}), ErrCertificate, "T.private.key does not go with T.cert.pem"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := read(t, tc.zip)
			if !errors.Is(err, tc.is) || !strings.Contains(fmt.Sprint(err), tc.want) {
				t.Fatalf("got %+v, %v; want %v containing %q", k, err, tc.is, tc.want)
			}
		})
	}
	if _, err := Read(bytes.NewReader(nil), MaxZipSize+1); !errors.Is(err, ErrUnsafe) {
		t.Errorf("a zip over MaxZipSize: %v", err)
	}
}

// lyingHeader is a zip whose headers claim 5 bytes for an entry holding n.
func lyingHeader(t *testing.T, n int) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	body := bytes.Repeat([]byte("A"), n)
	f, err := w.CreateRaw(&zip.FileHeader{Name: "small", Method: zip.Store,
		CompressedSize64: uint64(len(body)), UncompressedSize64: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
