package tls

import (
	"crypto"
	stdtls "crypto/tls"
	"errors"
	"fmt"
	"os"
)

// ErrKeyMismatch means the private key does not belong to the certificate.
var ErrKeyMismatch = errors.New("private key does not match the certificate")

// keyPair is a parsed, matching certificate and key, plus what was worrying about them.
type keyPair struct {
	cert     *stdtls.Certificate
	warnings []string
}

// loadKeyPair reads and checks the device certificate and key. Both files are always
// read so that every missing one is named in a single error.
func loadKeyPair(certFile, keyFile string) (*keyPair, error) {
	certPath, keyPath := absPath(certFile), absPath(keyFile)
	if certFile == "" {
		certPath = ""
	}
	if keyFile == "" {
		keyPath = ""
	}
	certData, certErr := readFile(RoleCert, certPath)
	keyData, keyErr := readFile(RoleKey, keyPath)
	if err := errors.Join(certErr, keyErr); err != nil {
		return nil, err
	}
	certs, certErr := parseCertificates(RoleCert, certPath, certData)
	key, keyErr := parsePrivateKey(keyPath, keyData)
	if err := errors.Join(certErr, keyErr); err != nil {
		return nil, err
	}
	leaf := certs[0]
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return nil, &FileError{Role: RoleKey, Path: keyPath,
			Problem: fmt.Sprintf("does not match the certificate in %s (%s)", certPath, leaf.Subject),
			Fix:     "put the private key that was created together with this certificate there, or set mqtt.key_file",
			Err:     ErrKeyMismatch}
	}
	kp := &keyPair{cert: &stdtls.Certificate{PrivateKey: key, Leaf: leaf}}
	for _, c := range certs {
		kp.cert.Certificate = append(kp.cert.Certificate, c.Raw)
	}
	if w := keyModeWarning(keyPath); w != "" {
		kp.warnings = append(kp.warnings, w)
	}
	return kp, nil
}

// keyModeWarning is loud but not fatal: refusing to start would turn a careless chmod
// into an outage, while the key leaking to other local users is what we warn about.
func keyModeWarning(path string) string {
	st, err := os.Stat(path)
	if err != nil {
		return ""
	}
	mode := st.Mode().Perm()
	if mode&0o044 == 0 {
		return ""
	}
	who := "group and others"
	switch {
	case mode&0o040 == 0:
		who = "others"
	case mode&0o004 == 0:
		who = "its group"
	}
	return fmt.Sprintf("private key file %s is readable by %s (mode %04o); anyone who reads it can impersonate this device: chmod 600 %s",
		path, who, mode, path)
}
