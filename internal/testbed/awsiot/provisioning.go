package awsiot

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"
)

// Fleet provisioning (Developer Guide, "Device provisioning MQTT API"), JSON payload format:
//
//   - $aws/certificates/create-from-csr/json {"certificateSigningRequest": PEM} answers on
//     .../accepted {"certificateId", "certificatePem", "certificateOwnershipToken"}: the CSR is
//     signed by the service's CA, the new certificate is PENDING_ACTIVATION and the token is
//     valid one hour.
//   - $aws/provisioning-templates/<name>/provision/json {"certificateOwnershipToken",
//     "parameters": {...}} answers on .../accepted {"thingName", "deviceConfiguration"} and
//     makes the certificate ACTIVE.
//   - Failures answer on .../rejected with {"statusCode", "errorCode", "errorMessage"}.
//
// The broker trusts the service's CA for TLS (see serverTLS) but, as AWS, accepts a
// certificate it issued only while that certificate is ACTIVE. The error codes for a missing
// template, a bad token and missing parameters are this broker's choice (AWS documents the
// shape, not a list); RejectRegister sets any answer a test wants.
const (
	createFromCSRTopic  = "$aws/certificates/create-from-csr/json"
	templatesPrefix     = "$aws/provisioning-templates/"
	ownershipTokenLife  = time.Hour
	defaultCertValidity = 365 * 24 * time.Hour
)

// Certificate states as AWS names them.
const (
	CertPendingActivation = "PENDING_ACTIVATION"
	CertActive            = "ACTIVE"
	CertInactive          = "INACTIVE"
	CertRevoked           = "REVOKED"
)

// ProvisioningError is AWS's error shape on a .../rejected topic.
type ProvisioningError struct {
	StatusCode   int    `json:"statusCode"`
	ErrorCode    string `json:"errorCode"`
	ErrorMessage string `json:"errorMessage"`
}

// Template is a fleet-provisioning template as far as a device can tell.
type Template struct {
	// Parameters must all be present (and non-empty) in RegisterThing's parameters.
	Parameters []string
	// ThingName is the thing name with "{Param}" replaced by that parameter's value;
	// "" means "{SerialNumber}".
	ThingName string
	// DeviceConfiguration is returned as is.
	DeviceConfiguration map[string]string
	// CertificateStatus is the state RegisterThing gives the certificate, as the template's
	// AWS::IoT::Certificate Status; "" means CertActive.
	CertificateStatus string
}

// ProvisioningOptions configure NewProvisioning.
type ProvisioningOptions struct {
	// CA and CAKey sign the CSRs; nil makes a fresh P-256 CA.
	CA    *x509.Certificate
	CAKey crypto.Signer
	// Templates by name.
	Templates map[string]Template
	// Validity of issued certificates; 0 means 365 days.
	Validity time.Duration
	// Now is the service's clock; nil means time.Now.
	Now func() time.Time
}

// IssuedCertificate is one certificate the service made.
type IssuedCertificate struct {
	ID        string
	State     string
	ThingName string
	Cert      *x509.Certificate
}

// ProvisioningCalls counts the requests the service received.
type ProvisioningCalls struct {
	CreateFromCSR int
	RegisterThing int
}

// Provisioning is the fleet-provisioning service; pass it in Options.Services.
type Provisioning struct {
	ca    *x509.Certificate
	caKey crypto.Signer
	o     ProvisioningOptions

	mu            sync.Mutex
	certs         map[string]*issued // by certificate ID
	order         []string           // certificate IDs in order of issue
	tokens        map[string]token
	reject        *ProvisioningError
	silentCreate  bool
	silentProvide bool
	calls         ProvisioningCalls
	things        map[string]string // thing name -> certificate ID
	seen          []string          // certificate IDs of the issued certificates in accepted handshakes
}

type issued struct {
	IssuedCertificate
}

type token struct {
	certID  string
	expires time.Time
}

// NewProvisioning makes the service; its CA is CA().
func NewProvisioning(o ProvisioningOptions) (*Provisioning, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Validity == 0 {
		o.Validity = defaultCertValidity
	}
	p := &Provisioning{ca: o.CA, caKey: o.CAKey, o: o,
		certs: map[string]*issued{}, tokens: map[string]token{}, things: map[string]string{}}
	if p.ca == nil || p.caKey == nil {
		if err := p.makeCA(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *Provisioning) makeCA() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("awsiot: provisioning CA key: %w", err)
	}
	now := p.o.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "awsiot provisioning CA", Organization: []string{"thingd testbed"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(p.o.Validity + 24*time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("awsiot: provisioning CA: %w", err)
	}
	if p.ca, err = x509.ParseCertificate(der); err != nil {
		return fmt.Errorf("awsiot: provisioning CA: %w", err)
	}
	p.caKey = key
	return nil
}

// CA is the certificate authority signing the devices' CSRs.
func (p *Provisioning) CA() *x509.Certificate { return p.ca }

// RejectRegister makes every RegisterThing answer e on .../rejected; nil accepts again.
func (p *Provisioning) RejectRegister(e *ProvisioningError) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e != nil {
		c := *e
		e = &c
	}
	p.reject = e
}

// SilenceRegister makes RegisterThing never answer (a device then times out); false answers again.
func (p *Provisioning) SilenceRegister(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.silentProvide = on
}

// SilenceCreate makes CreateCertificateFromCsr never answer; false answers again.
func (p *Provisioning) SilenceCreate(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.silentCreate = on
}

// SetValidity sets how long the certificates issued from now on are valid.
func (p *Provisioning) SetValidity(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.o.Validity = d
}

// SetTemplate adds or replaces a template.
func (p *Provisioning) SetTemplate(name string, t Template) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := make(map[string]Template, len(p.o.Templates)+1)
	for k, v := range p.o.Templates {
		m[k] = v
	}
	m[name] = t
	p.o.Templates = m
}

// Seen lists, in order, the IDs of the issued certificates the broker accepted in a TLS
// handshake: which identity a device connected with.
func (p *Provisioning) Seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

// Calls counts the requests so far.
func (p *Provisioning) Calls() ProvisioningCalls {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

// Certificates lists the certificates issued so far, oldest first.
func (p *Provisioning) Certificates() []IssuedCertificate {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]IssuedCertificate, 0, len(p.order))
	for _, id := range p.order {
		out = append(out, p.certs[id].IssuedCertificate)
	}
	return out
}

// SetCertificateState sets an issued certificate's state (e.g. CertRevoked); from the next
// TLS handshake on, the broker accepts it only when CertActive.
func (p *Provisioning) SetCertificateState(id, state string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.certs[id]
	if !ok {
		return fmt.Errorf("awsiot: no certificate %s", id)
	}
	c.State = state
	return nil
}

// Handles is the Service interface: the JSON fleet-provisioning request topics.
func (p *Provisioning) Handles(topic string) bool {
	_, ok := templateOf(topic)
	return topic == createFromCSRTopic || ok
}

// Handle answers one request; requests are never delivered to subscribers.
func (p *Provisioning) Handle(_ string, topic string, payload []byte) ([]Message, bool) {
	if topic == createFromCSRTopic {
		return p.createFromCSR(payload), false
	}
	name, _ := templateOf(topic)
	return p.registerThing(topic, name, payload), false
}

// templateOf parses $aws/provisioning-templates/<name>/provision/json.
func templateOf(topic string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, templatesPrefix)
	if !ok {
		return "", false
	}
	name, tail, ok := strings.Cut(rest, "/")
	return name, ok && name != "" && tail == "provision/json"
}

// replies is reply (shadow.go) as the one-message answer Handle returns.
func replies(topic string, v any) []Message { return []Message{reply(topic, v)} }

func rejected(request string, status int, code, format string, a ...any) []Message {
	return replies(request+"/rejected", ProvisioningError{StatusCode: status, ErrorCode: code, ErrorMessage: fmt.Sprintf(format, a...)})
}

func (p *Provisioning) createFromCSR(payload []byte) []Message {
	p.mu.Lock()
	p.calls.CreateFromCSR++
	silent := p.silentCreate
	p.mu.Unlock()
	if silent {
		return nil
	}
	var req struct {
		CSR string `json:"certificateSigningRequest"`
	}
	if err := json.Unmarshal(payload, &req); err != nil || req.CSR == "" {
		return rejected(createFromCSRTopic, 400, "InvalidPayload", "the request is not JSON with a certificateSigningRequest")
	}
	block, _ := pem.Decode([]byte(req.CSR))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return rejected(createFromCSRTopic, 400, "InvalidCSR", "certificateSigningRequest is not a PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err == nil {
		err = csr.CheckSignature()
	}
	if err != nil {
		return rejected(createFromCSRTopic, 400, "InvalidCSR", "the CSR does not parse or its signature is wrong: %v", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return rejected(createFromCSRTopic, 500, "InternalFailure", "%v", err)
	}
	now := p.o.Now()
	p.mu.Lock()
	validity := p.o.Validity
	p.mu.Unlock()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		// AWS ignores the CSR's subject and names every certificate it signs like this.
		Subject:     pkix.Name{CommonName: "AWS IoT Certificate"},
		NotBefore:   now.Add(-time.Minute).Truncate(time.Second),
		NotAfter:    now.Add(validity).Truncate(time.Second),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, csr.PublicKey, p.caKey)
	if err != nil {
		return rejected(createFromCSRTopic, 400, "InvalidCSR", "cannot sign the CSR's key: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return rejected(createFromCSRTopic, 500, "InternalFailure", "%v", err)
	}
	sum := sha256.Sum256(der)
	id := hex.EncodeToString(sum[:]) // AWS's certificate ID is the SHA-256 of the DER
	tok := make([]byte, 32)
	if _, err := rand.Read(tok); err != nil {
		return rejected(createFromCSRTopic, 500, "InternalFailure", "%v", err)
	}
	t := hex.EncodeToString(tok)
	p.mu.Lock()
	p.certs[id] = &issued{IssuedCertificate{ID: id, State: CertPendingActivation, Cert: cert}}
	p.order = append(p.order, id)
	p.tokens[t] = token{certID: id, expires: now.Add(ownershipTokenLife)}
	p.mu.Unlock()
	return replies(createFromCSRTopic+"/accepted", map[string]string{
		"certificateId":             id,
		"certificatePem":            string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		"certificateOwnershipToken": t,
	})
}

func (p *Provisioning) registerThing(topic, name string, payload []byte) []Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls.RegisterThing++
	if p.silentProvide {
		return nil
	}
	var req struct {
		Token      string            `json:"certificateOwnershipToken"`
		Parameters map[string]string `json:"parameters"`
	}
	if err := json.Unmarshal(payload, &req); err != nil {
		return rejected(topic, 400, "InvalidPayload", "the request is not JSON with certificateOwnershipToken and parameters: %v", err)
	}
	tmpl, ok := p.o.Templates[name]
	if !ok {
		return rejected(topic, 404, "ResourceNotFound", "provisioning template %s does not exist", name)
	}
	tok, ok := p.tokens[req.Token]
	if !ok || !p.o.Now().Before(tok.expires) {
		return rejected(topic, 400, "InvalidCertificateOwnershipToken", "the certificate ownership token is unknown or expired")
	}
	if p.reject != nil {
		return replies(topic+"/rejected", *p.reject)
	}
	for _, k := range tmpl.Parameters {
		if req.Parameters[k] == "" {
			return rejected(topic, 400, "InvalidParameters", "template %s needs parameter %s", name, k)
		}
	}
	thing := tmpl.ThingName
	if thing == "" {
		thing = "{SerialNumber}"
	}
	for k, v := range req.Parameters {
		thing = strings.ReplaceAll(thing, "{"+k+"}", v)
	}
	delete(p.tokens, req.Token)
	c := p.certs[tok.certID]
	c.State, c.ThingName = CertActive, thing
	if tmpl.CertificateStatus != "" {
		c.State = tmpl.CertificateStatus
	}
	p.things[thing] = c.ID
	cfg := tmpl.DeviceConfiguration
	if cfg == nil {
		cfg = map[string]string{}
	}
	return replies(topic+"/accepted", map[string]any{"thingName": thing, "deviceConfiguration": cfg})
}

// verifyClient refuses a certificate this service issued unless it is ACTIVE; others (not
// chaining to its CA) are left to the rest of the TLS configuration.
func (p *Provisioning) verifyClient(cert *x509.Certificate) error {
	if cert.CheckSignatureFrom(p.ca) != nil {
		return nil
	}
	sum := sha256.Sum256(cert.Raw)
	id := hex.EncodeToString(sum[:])
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.certs[id]
	switch {
	case !ok:
		return fmt.Errorf("certificate %s is unknown", id)
	case c.State != CertActive:
		return fmt.Errorf("certificate %s is %s", id, c.State)
	}
	p.seen = append(p.seen, id)
	return nil
}

// serverTLS is the broker's TLS configuration: cfg, plus trust in the CA of every
// Provisioning service, whose own certificates are accepted only while ACTIVE.
func serverTLS(cfg *tls.Config, services []Service) *tls.Config {
	var ps []*Provisioning
	for _, s := range services {
		if p, ok := s.(*Provisioning); ok {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		return cfg
	}
	cfg = cfg.Clone()
	pool := x509.NewCertPool()
	if cfg.ClientCAs != nil {
		pool = cfg.ClientCAs.Clone()
	}
	for _, p := range ps {
		pool.AddCert(p.ca)
	}
	cfg.ClientCAs = pool
	next := cfg.VerifyConnection
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) > 0 {
			for _, p := range ps {
				if err := p.verifyClient(cs.PeerCertificates[0]); err != nil {
					return errors.New("awsiot: " + err.Error())
				}
			}
		}
		if next != nil {
			return next(cs)
		}
		return nil
	}
	return cfg
}
