package tls

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// ErrBadPEM is wrapped by every FileError about content: no PEM, the wrong kind of
// block, a block that does not parse, an encrypted key.
var ErrBadPEM = errors.New("bad PEM data")

// parseCertificates returns every CERTIFICATE block of a file, leaf first.
// Other blocks are tolerated next to certificates (bundles carry comments and
// parameters) but a file with none is an error that says what it holds instead.
func parseCertificates(role Role, path string, data []byte) ([]*x509.Certificate, error) {
	fe := func(problem, fix string) error {
		return &FileError{Role: role, Path: path, Problem: problem, Fix: fix, Err: ErrBadPEM}
	}
	var certs []*x509.Certificate
	var other string
	rest := data
	for n := 1; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			if other == "" {
				other = block.Type
			}
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fe(fmt.Sprintf("PEM block %d is a CERTIFICATE that does not parse: %v", n, err),
				"replace the file with an intact copy")
		}
		certs = append(certs, c)
	}
	switch {
	case len(certs) > 0:
		return certs, nil
	case other != "":
		fix := "put the certificate there"
		if strings.Contains(other, "PRIVATE KEY") && role == RoleCert {
			fix = "are mqtt.cert_file and mqtt.key_file swapped?"
		}
		return nil, fe(fmt.Sprintf("found a %s block where a CERTIFICATE was expected", other), fix)
	}
	return nil, noPEM(role, path, data, "CERTIFICATE")
}

// parsePrivateKey returns the first private key of a file.
func parsePrivateKey(path string, data []byte) (crypto.Signer, error) {
	fe := func(problem, fix string) error {
		return &FileError{Role: RoleKey, Path: path, Problem: problem, Fix: fix, Err: ErrBadPEM}
	}
	encrypted := fe("the key is encrypted with a passphrase, which a daemon cannot type in",
		fmt.Sprintf("decrypt it once: openssl pkey -in %s -out %s.plain, then put the plain key there with mode 600", path, path))
	var other string
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		var key any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY", "EC PRIVATE KEY":
			if strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED") {
				return nil, encrypted
			}
			if block.Type == "RSA PRIVATE KEY" {
				key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
			} else {
				key, err = x509.ParseECPrivateKey(block.Bytes)
			}
		case "ENCRYPTED PRIVATE KEY":
			return nil, encrypted
		case "EC PARAMETERS": // openssl ecparam -genkey writes these before the key
			continue
		default:
			if other == "" {
				other = block.Type
			}
			continue
		}
		if err != nil {
			return nil, fe(fmt.Sprintf("the %s block does not parse: %v", block.Type, err),
				"replace the file with an intact copy of the key")
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fe(fmt.Sprintf("the %s block holds a %T, which cannot sign", block.Type, key), "")
		}
		return signer, nil
	}
	if other != "" {
		fix := "put the private key there"
		if other == "CERTIFICATE" {
			fix = "are mqtt.cert_file and mqtt.key_file swapped?"
		}
		return nil, fe(fmt.Sprintf("found a %s block where a PRIVATE KEY was expected", other), fix)
	}
	return nil, noPEM(RoleKey, path, data, "PRIVATE KEY")
}

// noPEM explains a file without a single PEM block. DER (binary) files start with an
// ASN.1 SEQUENCE byte, which is the common mix-up when certificates are downloaded.
func noPEM(role Role, path string, data []byte, want string) error {
	fe := &FileError{Role: role, Path: path, Err: ErrBadPEM}
	switch {
	case len(data) > 0 && data[0] == 0x30:
		fe.Problem = "no PEM data: is this a DER file?"
		tool := "x509"
		if role == RoleKey {
			tool = "pkey"
		}
		fe.Fix = fmt.Sprintf("if so, convert it: openssl %s -inform der -in %s -out %s.tmp && mv %s.tmp %s",
			tool, path, path, path, path)
	case bytes.Contains(data, []byte("-----BEGIN")):
		fe.Problem = "PEM data is damaged: a -----BEGIN line without a complete block (truncated copy or broken base64?)"
		fe.Fix = "replace the file with an intact copy"
	default:
		fe.Problem = fmt.Sprintf("no PEM data: %d bytes without a -----BEGIN %s----- line", len(data), want)
		fe.Fix = missingFix(role)
	}
	return fe
}
