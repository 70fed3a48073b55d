// Package kit reads the "connect one device" kit that the AWS IoT console downloads
// (connect_device_package.zip), treating the zip as hostile input.
package kit

import (
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"sort"
	"strings"
)

// Limits for a kit: a real one holds five files of a few KiB each.
const (
	MaxZipSize   = 16 << 20 // bytes of the zip file itself
	MaxEntries   = 64       // entries, folders included
	MaxEntrySize = 1 << 20  // uncompressed bytes of one entry
	MaxTotalSize = 8 << 20  // uncompressed bytes of all entries
)

var (
	// ErrUnsafe marks a zip refused for its shape: path escapes, links, sizes over the limits.
	ErrUnsafe = errors.New("unsafe zip")
	// ErrNotKit marks a readable zip that is not a connect kit.
	ErrNotKit = errors.New("not a connect kit")
	// ErrCertificate marks a certificate or key that is unusable or that do not belong together.
	ErrCertificate = errors.New("bad certificate or key")
)

// Kit is what thingd needs from a connect kit.
type Kit struct {
	Thing    string // from the file names: <Thing>.cert.pem
	Endpoint string // start.sh's --endpoint; "" when it names none
	ClientID string // start.sh's --client_id; "" when it names none
	Topic    string // start.sh's --topic; "" when it names none
	Cert     []byte // PEM, checked to hold a certificate matching Key
	Key      []byte // PEM
	Policy   string // <Thing>-Policy, the policy document; "" when absent
	Script   string // the entry the endpoint was read from, e.g. "start.sh"; "" when none
	// BadEndpoint is the script's --endpoint value when it is not a hostname (then
	// Endpoint is ""); import refuses such a kit rather than install half a setup.
	BadEndpoint string
}

// thingName is what AWS IoT accepts as a thing name; it also keeps the name safe
// to use in file names.
var thingName = regexp.MustCompile(`^[a-zA-Z0-9:_-]{1,128}$`)

// Read parses a connect kit from a zip of size bytes. The kit's files may sit at the
// zip's root or one folder down.
func Read(r io.ReaderAt, size int64) (*Kit, error) {
	files, err := readZip(r, size)
	if err != nil {
		return nil, err
	}
	certName, err := findCert(files)
	if err != nil {
		return nil, err
	}
	dir, base := path.Split(certName)
	k := &Kit{Thing: strings.TrimSuffix(base, ".cert.pem"), Cert: files[certName]}
	if !thingName.MatchString(k.Thing) {
		return nil, fmt.Errorf("%w: %q does not name a thing (AWS thing names are 1..128 of a-z A-Z 0-9 : _ -)", ErrNotKit, certName)
	}
	keyName := dir + k.Thing + ".private.key"
	key, ok := files[keyName]
	if !ok {
		return nil, fmt.Errorf("%w: the zip has %s but no %s; the console offers the private key only at download, so download a new kit (or create a new certificate)", ErrNotKit, certName, keyName)
	}
	k.Key = key
	if err := checkPair(certName, k.Cert, keyName, k.Key); err != nil {
		return nil, err
	}
	k.Policy = string(files[dir+k.Thing+"-Policy"])
	for _, script := range []string{"start.sh", "start.ps1"} {
		if text, ok := files[dir+script]; ok {
			k.Script = dir + script
			k.Endpoint, k.ClientID, k.Topic = parseScript(string(text))
			if k.Endpoint == "" {
				k.BadEndpoint = rejectedEndpoint(string(text))
			}
			break
		}
	}
	return k, nil
}

// findCert returns the one <thing>.cert.pem at depth 0 or 1.
func findCert(files map[string][]byte) (string, error) {
	var certs, names []string
	for name := range files {
		names = append(names, name)
		// macOS zips add "__MACOSX/._<name>" resource forks beside each file.
		if strings.HasSuffix(name, ".cert.pem") && strings.Count(name, "/") <= 1 && !strings.HasPrefix(path.Base(name), "._") {
			certs = append(certs, name)
		}
	}
	sort.Strings(certs)
	switch len(certs) {
	case 1:
		return certs[0], nil
	case 0:
		sort.Strings(names)
		if len(names) > 5 {
			names = append(names[:5], "...")
		}
		held := "it is empty"
		if len(names) > 0 {
			held = "it holds " + strings.Join(names, ", ")
		}
		return "", fmt.Errorf("%w: no *.cert.pem in this zip (%s): is this the connect kit from the AWS IoT console?", ErrNotKit, held)
	}
	return "", fmt.Errorf("%w: several certificates (%s): import a kit that holds one device's files", ErrNotKit, strings.Join(certs, ", "))
}
