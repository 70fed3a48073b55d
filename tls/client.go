package tls

import (
	stdtls "crypto/tls"
	"errors"
	"time"

	"go.uber.org/zap"
)

// Client is the device's TLS setup for one broker.
type Client struct {
	// Config is for tls.Client / the MQTT library. Each handshake re-reads the
	// certificate and key files, so a rotated certificate needs no restart.
	Config *stdtls.Config
	// Trust is where the roots verifying the broker came from.
	Trust Trust
	// Device describes the certificate loaded at start.
	Device CertInfo
	// Warnings are problems that do not stop the connection (a key readable by
	// others). They are also logged at Warn.
	Warnings []string

	host  string
	now   func() time.Time
	certs *certSource
}

// Load reads and checks the files and builds the client configuration. Every missing or
// unreadable file is reported (errors.Join of *FileError); a key that does not belong to
// the certificate is ErrKeyMismatch.
func Load(o Options) (*Client, error) {
	if o.Host == "" {
		return nil, errors.New("mqtt.endpoint is empty: set it to the device data endpoint from the AWS IoT console (Settings)")
	}
	log := o.logger()
	kp, kpErr := loadKeyPair(o.CertFile, o.KeyFile)
	pool, trust, trustErr := trustPool(o.CAFile, o.SystemPool)
	if err := errors.Join(kpErr, trustErr); err != nil {
		return nil, err
	}
	for _, w := range kp.warnings {
		log.Warn(w)
	}
	c := &Client{
		Trust:    trust,
		Device:   certInfo(absPath(o.CertFile), kp.cert.Leaf),
		Warnings: kp.warnings,
		host:     o.Host,
		now:      o.now(),
	}
	c.certs = newCertSource(absPath(o.CertFile), absPath(o.KeyFile), kp, log)
	c.Config = &stdtls.Config{
		MinVersion:           stdtls.VersionTLS12,
		ServerName:           o.Host,
		RootCAs:              pool,
		Time:                 c.now,
		GetClientCertificate: c.certs.GetClientCertificate,
	}
	if o.Port == 443 {
		c.Config.NextProtos = []string{AWSIoTALPN}
	}
	log.Info("tls ready", zap.String("trust", trust.String()),
		zap.String("device_subject", c.Device.Subject), zap.Time("device_not_after", c.Device.NotAfter))
	return c, nil
}

// Explain turns a handshake or connection error into a sentence about certificates
// (see Explain); clockSynced tells whether the TLS clock had been synced with NTP.
func (c *Client) Explain(err error, clockSynced bool) error {
	return Explain(err, Diag{Host: c.host, Trust: c.Trust, Now: c.now, ClockSynced: clockSynced})
}

// Certificate describes the device certificate the last handshake presented (the one
// loaded by Load before any handshake).
func (c *Client) Certificate() CertInfo {
	cert := c.certs.Current()
	return certInfo(c.certs.certFile, cert.Leaf)
}
