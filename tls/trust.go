package tls

import (
	"crypto/x509"
	_ "embed"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"
)

// TrustSource says where the roots that verify the broker come from.
type TrustSource int

const (
	TrustCAFile  TrustSource = iota + 1 // mqtt.ca_file
	TrustSystem                         // the operating system's trust store
	TrustBuiltin                        // roots compiled into thingd
)

// String is a short machine-friendly name ("ca_file", "system", "builtin") for JSON.
func (s TrustSource) String() string {
	switch s {
	case TrustCAFile:
		return "ca_file"
	case TrustSystem:
		return "system"
	case TrustBuiltin:
		return "builtin"
	}
	return "none"
}

// Trust names the roots in use, for logs and `thingd check`.
type Trust struct {
	Source TrustSource
	File   string // the CA file, for TrustCAFile
}

// BuiltinTrustName is how the compiled-in roots are named. They are Amazon Root CA 1-4
// only: every version of golang.org/x/crypto/x509roots/fallback with the bundle API
// needs Go newer than 1.22, the Go of the Yocto LTS (docs/packaging.md). A custom
// domain whose certificate comes from another CA needs mqtt.ca_file or a system store.
const BuiltinTrustName = "built-in roots (Amazon Root CA 1-4)"

// amazonRootsPEM is Amazon Trust Services' four roots, which sign every AWS IoT Core
// data endpoint (ATS) certificate.
//
//go:embed amazonroots.pem
var amazonRootsPEM []byte

func (t Trust) String() string {
	switch t.Source {
	case TrustCAFile:
		return "ca_file " + t.File
	case TrustSystem:
		return "the system trust store"
	case TrustBuiltin:
		return BuiltinTrustName
	}
	return "no trust source"
}

// trustPool picks the roots: ca_file if set, else the system store, else the built-in
// bundle. A system lookup that fails or finds nothing (a minimal Yocto image without
// ca-certificates) counts as no system store.
func trustPool(caFile string, system func() (*x509.CertPool, error)) (*x509.CertPool, Trust, error) {
	if caFile != "" {
		path := absPath(caFile)
		data, err := readFile(RoleCA, path)
		if err != nil {
			return nil, Trust{}, err
		}
		certs, err := parseCertificates(RoleCA, path, data)
		if err != nil {
			return nil, Trust{}, err
		}
		pool := x509.NewCertPool()
		for _, c := range certs {
			pool.AddCert(c)
		}
		return pool, Trust{Source: TrustCAFile, File: path}, nil
	}
	if system == nil {
		system = x509.SystemCertPool
	}
	if pool, err := system(); err == nil && pool != nil && !pool.Equal(x509.NewCertPool()) {
		return pool, Trust{Source: TrustSystem}, nil
	}
	pool, err := builtinPool()
	if err != nil {
		return nil, Trust{}, err
	}
	return pool, Trust{Source: TrustBuiltin}, nil
}

// builtinPool parses the embedded roots once. They are added to the MQTT connection's
// pool only, not installed with x509.SetFallbackRoots for the whole binary.
var builtinPool = sync.OnceValues(func() (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for rest := amazonRootsPEM; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("built-in root %d does not parse (a broken build of thingd): %w", n, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, errors.New("thingd was built without built-in roots; set mqtt.ca_file to AmazonRootCA1.pem")
	}
	return pool, nil
})

// BuiltinRoots returns a copy of the compiled-in root pool.
func BuiltinRoots() (*x509.CertPool, error) {
	pool, err := builtinPool()
	if err != nil {
		return nil, err
	}
	return pool.Clone(), nil
}
