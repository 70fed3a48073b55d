package tls

import (
	"crypto/x509"
	"time"

	"go.uber.org/zap"
)

// AWSIoTALPN is the ALPN protocol AWS IoT Core requires for MQTT with client
// certificates on port 443, where it shares the port with HTTPS.
const AWSIoTALPN = "x-amzn-mqtt-ca"

// Options says where the device's files are and whom it talks to.
type Options struct {
	Host     string // broker host name: SNI and hostname verification (mqtt.endpoint)
	Port     int    // broker port; 443 adds ALPN "x-amzn-mqtt-ca"
	CAFile   string // "" = system trust store, then the built-in roots
	CertFile string // device certificate (PEM, leaf first, chain may follow)
	KeyFile  string // device private key (PEM: PKCS#8, PKCS#1 or SEC 1)

	// Now is the clock certificates are checked against (tls.Config.Time).
	// thingd passes its NTP-trusted time; nil means time.Now.
	Now func() time.Time
	// SystemPool looks up the system trust store; nil means x509.SystemCertPool.
	// Tests replace it to simulate an image without one.
	SystemPool func() (*x509.CertPool, error)
	Logger     *zap.Logger
}

func (o Options) now() func() time.Time {
	if o.Now == nil {
		return time.Now
	}
	return o.Now
}

func (o Options) logger() *zap.Logger {
	if o.Logger == nil {
		return zap.NewNop()
	}
	return o.Logger.With(zap.String("component", "tls"))
}
