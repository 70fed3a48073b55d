package kit

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
)

// checkPair makes sure the certificate is PEM and the key belongs to it, so a kit is
// refused before anything is installed rather than when the daemon first connects.
func checkPair(certName string, cert []byte, keyName string, key []byte) error {
	block, _ := pem.Decode(cert)
	switch {
	case block == nil:
		return fmt.Errorf("%w: %s holds no PEM data (no -----BEGIN CERTIFICATE----- line): download the kit again", ErrCertificate, certName)
	case block.Type != "CERTIFICATE":
		return fmt.Errorf("%w: %s holds a %s block where a CERTIFICATE was expected", ErrCertificate, certName, block.Type)
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return fmt.Errorf("%w: %s: the certificate does not parse: %v", ErrCertificate, certName, err)
	}
	if !hasPrivateKey(key) {
		return fmt.Errorf("%w: %s holds no PEM private key: download the kit again", ErrCertificate, keyName)
	}
	if _, err := tls.X509KeyPair(cert, key); err != nil {
		return fmt.Errorf("%w: %s does not go with %s (%v): use the key downloaded together with this certificate", ErrCertificate, keyName, certName, err)
	}
	return nil
}

// hasPrivateKey looks past blocks such as "EC PARAMETERS" that openssl writes first.
func hasPrivateKey(data []byte) bool {
	for {
		var block *pem.Block
		if block, data = pem.Decode(data); block == nil {
			return false
		}
		if strings.HasSuffix(block.Type, "PRIVATE KEY") {
			return true
		}
	}
}
