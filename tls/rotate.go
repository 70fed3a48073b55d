package tls

import (
	"bytes"
	stdtls "crypto/tls"
	"sync"

	"go.uber.org/zap"
)

// certSource hands the device certificate to each new handshake, re-reading both files
// every time so a rotated certificate is used without a restart. Connections are rare
// (one per reconnect) and the files small, so reading beats guessing from mtimes. A
// rotation caught half-way (new certificate, old key) or a broken file keeps the last
// good pair in use, with one warning per distinct problem.
type certSource struct {
	certFile, keyFile string
	log               *zap.Logger

	mu       sync.Mutex
	current  *stdtls.Certificate
	lastWarn string
}

func newCertSource(certFile, keyFile string, kp *keyPair, log *zap.Logger) *certSource {
	return &certSource{certFile: certFile, keyFile: keyFile, log: log, current: kp.cert}
}

// GetClientCertificate implements tls.Config.GetClientCertificate. It never fails a
// handshake because of a bad rotation while a good pair is known.
func (s *certSource) GetClientCertificate(*stdtls.CertificateRequestInfo) (*stdtls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kp, err := loadKeyPair(s.certFile, s.keyFile)
	if err != nil {
		if msg := err.Error(); msg != s.lastWarn {
			s.lastWarn = msg
			s.log.Warn("device certificate files cannot be used; keeping the previous certificate",
				zap.Error(err), zap.String("serial", s.current.Leaf.SerialNumber.Text(16)))
		}
		return s.current, nil
	}
	s.lastWarn = ""
	if changed(s.current, kp.cert) {
		for _, w := range kp.warnings {
			s.log.Warn(w)
		}
		s.log.Info("device certificate reloaded",
			zap.String("subject", kp.cert.Leaf.Subject.String()),
			zap.String("serial", kp.cert.Leaf.SerialNumber.Text(16)),
			zap.Time("not_after", kp.cert.Leaf.NotAfter))
		s.current = kp.cert
	}
	return s.current, nil
}

// changed compares the chains; the key is bound to the leaf by loadKeyPair's match check.
func changed(old, new *stdtls.Certificate) bool {
	if len(old.Certificate) != len(new.Certificate) {
		return true
	}
	for i := range old.Certificate {
		if !bytes.Equal(old.Certificate[i], new.Certificate[i]) {
			return true
		}
	}
	return false
}

// Current returns the pair the last handshake presented (or the one loaded at start).
func (s *certSource) Current() *stdtls.Certificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current
}
