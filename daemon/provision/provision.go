// Package provision is fleet provisioning by claim over AWS IoT's MQTT API: the device makes
// its own key and CSR, connects with the fleet's claim certificate, calls
// CreateCertificateFromCsr and RegisterThing, and records the permanent identity, with no
// AWS SDK. The key never leaves the device.
package provision

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"go.uber.org/zap"

	"thingd/daemon/config"
	thingtls "thingd/tls"
)

// The JSON request topics of AWS IoT's device provisioning MQTT API.
const createFromCSRTopic = "$aws/certificates/create-from-csr/json"

func registerTopic(template string) string {
	return "$aws/provisioning-templates/" + template + "/provision/json"
}

// Options are one provisioning run.
type Options struct {
	Config *config.Config
	Logger *zap.Logger
	// Status, if set, gets a line for each step (sd_notify STATUS=).
	Status func(string)
	// Now is the TLS clock; nil means time.Now.
	Now func() time.Time
}

// Needed reports whether cfg asks for provisioning that has not been done, after finishing
// or discarding what a crash left behind.
func Needed(cfg *config.Config) (bool, error) {
	p := &cfg.Provisioning
	if !p.Enabled() {
		return false, nil
	}
	if _, err := filesOf(p).recover(); err != nil {
		return false, err
	}
	_, err := config.ReadIdentity(p.IdentityFile())
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	return false, err
}

// Run provisions the device unless it already is, and returns its identity; cfg.MQTT then
// carries it. A refusal by AWS IoT is a *RejectedError, no answer a *TimeoutError.
func Run(ctx context.Context, o Options) (_ *config.Identity, err error) {
	cfg := o.Config
	p := &cfg.Provisioning
	if !p.Enabled() {
		return nil, errors.New("provisioning is not configured: set [provisioning] template, claim_cert and claim_key (docs/provisioning.md)")
	}
	base := o.Logger
	if base == nil {
		base = zap.NewNop()
	}
	log := base.With(zap.String("component", "provision"), zap.String("template", p.Template))
	status := o.Status
	if status == nil {
		status = func(string) {}
	}
	f := filesOf(p)
	unlock, err := f.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	completed, err := f.recover()
	if err != nil {
		return nil, err
	}
	if completed {
		log.Info("finished a provisioning interrupted after it was committed")
	}
	if id, err := config.ReadIdentity(f.identity); err == nil {
		id.Apply(&cfg.MQTT)
		return id, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}

	params, err := Parameters(p.Parameters)
	if err != nil {
		return nil, err
	}
	clientID := p.ClientID
	if clientID == "" {
		clientID = cfg.MQTT.ClientID
	}
	claim, err := thingtls.Load(thingtls.Options{
		Host: cfg.MQTT.Endpoint, Port: cfg.MQTT.Port, CAFile: cfg.MQTT.CAFile,
		CertFile: p.ClaimCert, KeyFile: p.ClaimKey, Now: o.Now, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("provisioning: the claim certificate (provisioning.claim_cert, claim_key): %w", err)
	}
	key, csr, err := f.newKey(clientID)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			// A failed attempt keeps no key: the next one makes its own (a kill -9 leaves
			// this to recover at the next start).
			_, _ = f.recover()
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, p.Timeout.D())
	defer cancel()
	status("provisioning: connecting with the claim certificate as " + clientID)
	log.Info("provisioning by claim", zap.String("client_id", clientID), zap.String("key", pending(f.key)))
	x, err := dial(exchangeOptions{
		Endpoint: cfg.MQTT.Endpoint, Port: cfg.MQTT.Port, ClientID: clientID,
		Keepalive: cfg.MQTT.Keepalive.D(), Proxy: cfg.MQTT.Proxy,
		TLS:     func() (*tls.Config, error) { return claim.Config, nil },
		Explain: func(err error) error { return claim.Explain(err, true) },
		Logger:  base.With(zap.String("identity", "claim")), Topics: []string{createFromCSRTopic, registerTopic(p.Template)},
	})
	if err != nil {
		return nil, fmt.Errorf("provisioning: %w", err)
	}
	defer x.close()

	status("provisioning: asking AWS IoT for a certificate (CreateCertificateFromCsr)")
	req, _ := json.Marshal(map[string]string{"certificateSigningRequest": string(csr)})
	a, err := x.call(ctx, "CreateCertificateFromCsr", createFromCSRTopic, req)
	if err != nil {
		return nil, err
	}
	if err := rejection(a, createFromCSRTopic, "CreateCertificateFromCsr", p.Template); err != nil {
		return nil, err
	}
	var created struct {
		ID    string `json:"certificateId"`
		PEM   string `json:"certificatePem"`
		Token string `json:"certificateOwnershipToken"`
	}
	if err := json.Unmarshal(a.payload, &created); err != nil || created.PEM == "" || created.Token == "" {
		return nil, fmt.Errorf("provisioning: CreateCertificateFromCsr answered %q, not a certificate and ownership token", a.payload)
	}
	if err := matches(created.PEM, key); err != nil {
		return nil, err
	}
	if err := f.writeCert([]byte(created.PEM)); err != nil {
		return nil, err
	}
	log.Info("certificate issued", zap.String("certificate_id", created.ID))

	status("provisioning: registering the thing (RegisterThing, template " + p.Template + ")")
	req, _ = json.Marshal(map[string]any{"certificateOwnershipToken": created.Token, "parameters": params})
	a, err = x.call(ctx, "RegisterThing", registerTopic(p.Template), req)
	if err != nil {
		return nil, err
	}
	if err := rejection(a, registerTopic(p.Template), "RegisterThing", p.Template); err != nil {
		return nil, err
	}
	var reg struct {
		Thing string            `json:"thingName"`
		Cfg   map[string]string `json:"deviceConfiguration"`
	}
	if err := json.Unmarshal(a.payload, &reg); err != nil || reg.Thing == "" {
		return nil, fmt.Errorf("provisioning: RegisterThing answered %q, without a thingName", a.payload)
	}
	id := &config.Identity{
		ThingName: reg.Thing, ClientID: reg.Thing, CertFile: f.cert, KeyFile: f.key,
		CertificateID: created.ID, Template: p.Template, ProvisionedAt: time.Now().UTC(),
		DeviceConfiguration: reg.Cfg,
	}
	if err := f.commit(id); err != nil {
		return nil, err
	}
	id.Apply(&cfg.MQTT)
	log.Info("provisioned", zap.String("thing_name", id.ThingName), zap.String("certificate_id", id.CertificateID),
		zap.String("cert_file", id.CertFile), zap.String("identity", f.identity))
	status("provisioned as " + id.ThingName)
	return id, nil
}

// matches checks that the certificate AWS IoT returned is for our key.
func matches(certPEM string, key *ecdsa.PrivateKey) error {
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil {
		return errors.New("provisioning: CreateCertificateFromCsr returned no PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Errorf("provisioning: the issued certificate does not parse: %w", err)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return errors.New("provisioning: the issued certificate is not for the key this device made; not using it")
	}
	return nil
}

// RejectedError is AWS IoT's answer on a .../rejected topic.
type RejectedError struct {
	API          string // CreateCertificateFromCsr or RegisterThing
	Template     string
	StatusCode   int    `json:"statusCode"`
	ErrorCode    string `json:"errorCode"`
	ErrorMessage string `json:"errorMessage"`
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("provisioning: AWS IoT rejected %s: statusCode %d, errorCode %q, errorMessage %q; likely fix: %s",
		e.API, e.StatusCode, e.ErrorCode, e.ErrorMessage, e.Fix())
}

// Fix is the likely remedy, worded for the person reading the journal.
func (e *RejectedError) Fix() string {
	switch {
	case e.StatusCode == 404 || e.ErrorCode == "ResourceNotFound" || e.ErrorCode == "ResourceNotFoundException":
		return fmt.Sprintf("the provisioning template %q does not exist in this account and region; check provisioning.template (aws iot list-provisioning-templates) and that it is enabled", e.Template)
	case e.ErrorCode == "InvalidCertificateOwnershipToken":
		return "the certificate ownership token expired (it lasts one hour) or was used; run provisioning again"
	case e.ErrorCode == "InvalidParameters" || e.ErrorCode == "InvalidParameter":
		return "set every parameter the template declares in [provisioning] parameters"
	case e.API == "CreateCertificateFromCsr":
		return "the claim certificate's policy must allow iot:Publish on $aws/certificates/create-from-csr/json and iot:Subscribe/iot:Receive on its accepted and rejected topics"
	case e.StatusCode == 401 || e.StatusCode == 403:
		return fmt.Sprintf("the claim policy must allow iot:Publish on $aws/provisioning-templates/%s/provision/json (and Subscribe/Receive on its accepted and rejected topics), and the template's pre-provisioning hook, if it has one, must allow this device's parameters", e.Template)
	}
	return "check the template's pre-provisioning hook and the claim policy; AWS IoT's CloudWatch logs show the reason"
}

// rejection turns an answer on request/rejected into a *RejectedError.
func rejection(a answer, request, api, template string) error {
	if a.topic != request+"/rejected" {
		return nil
	}
	e := &RejectedError{API: api, Template: template}
	if err := json.NewDecoder(bytes.NewReader(a.payload)).Decode(e); err != nil {
		e.ErrorMessage = string(a.payload)
	}
	return e
}
