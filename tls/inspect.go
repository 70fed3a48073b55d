package tls

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"time"
)

// CertInfo is what `thingd check` shows about the device certificate.
type CertInfo struct {
	Path      string
	Subject   string
	Issuer    string
	Serial    string // hex
	NotBefore time.Time
	NotAfter  time.Time
	// ID is the SHA-256 of the certificate, which is how the AWS IoT console
	// names certificates: it finds this device's one among many.
	ID string
}

// InspectCertificate loads the leaf certificate of a PEM file.
func InspectCertificate(path string) (CertInfo, error) {
	path = absPath(path)
	data, err := readFile(RoleCert, path)
	if err != nil {
		return CertInfo{}, err
	}
	certs, err := parseCertificates(RoleCert, path, data)
	if err != nil {
		return CertInfo{}, err
	}
	return certInfo(path, certs[0]), nil
}

func certInfo(path string, c *x509.Certificate) CertInfo {
	sum := sha256.Sum256(c.Raw)
	return CertInfo{
		Path:      path,
		Subject:   c.Subject.String(),
		Issuer:    c.Issuer.String(),
		Serial:    c.SerialNumber.Text(16),
		NotBefore: c.NotBefore,
		NotAfter:  c.NotAfter,
		ID:        hex.EncodeToString(sum[:]),
	}
}

// CheckValidity says whether the certificate is valid at now, as a *CertError
// (KindNotYetValid or KindExpired) when it is not. clockSynced tells whether now
// comes from an NTP-synced clock, which decides whom to blame.
func (i CertInfo) CheckValidity(now time.Time, clockSynced bool) error {
	e := &CertError{Path: i.Path, Subject: i.Subject, Issuer: i.Issuer,
		NotBefore: i.NotBefore, NotAfter: i.NotAfter, Now: now, ClockSynced: clockSynced}
	switch {
	case now.Before(i.NotBefore):
		e.Kind = KindNotYetValid
	case now.After(i.NotAfter):
		e.Kind = KindExpired
	default:
		return nil
	}
	return e
}
