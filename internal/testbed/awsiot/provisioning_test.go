package awsiot_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"thingd/internal/testbed/awsiot"
)

const tmplTopic = "$aws/provisioning-templates/fleet/provision/json"

func startProvisioning(t *testing.T) (*world, *awsiot.Provisioning) {
	t.Helper()
	p, err := awsiot.NewProvisioning(awsiot.ProvisioningOptions{Templates: map[string]awsiot.Template{
		"fleet": {Parameters: []string{"SerialNumber"}, ThingName: "pi-{SerialNumber}",
			DeviceConfiguration: map[string]string{"site": "lab"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return start(t, awsiot.Options{Services: []awsiot.Service{p}}), p
}

// call subscribes to request's accepted and rejected topics, publishes payload and returns
// the answer's topic suffix ("accepted"/"rejected") and payload, or "" on no answer.
func call(t *testing.T, c *client, request string, payload any, wait time.Duration) (string, []byte) {
	t.Helper()
	got := make(chan paho.Message, 2)
	for _, s := range []string{"/accepted", "/rejected"} {
		tok := c.Subscribe(request+s, 1, func(_ paho.Client, m paho.Message) { got <- m })
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", request+s, tok.Error())
		}
	}
	defer func() { c.Unsubscribe(request+"/accepted", request+"/rejected").WaitTimeout(10 * time.Second) }()
	b, _ := json.Marshal(payload)
	if tok := c.Publish(request, 1, false, b); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", request, tok.Error())
	}
	select {
	case m := <-got:
		return m.Topic()[len(request)+1:], m.Payload()
	case <-time.After(wait):
		return "", nil
	}
}

func newCSR(t *testing.T) (*ecdsa.PrivateKey, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	return key, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func createCert(t *testing.T, c *client) (key *ecdsa.PrivateKey, certPEM, tok string) {
	t.Helper()
	key, csr := newCSR(t)
	kind, body := call(t, c, "$aws/certificates/create-from-csr/json", map[string]string{"certificateSigningRequest": csr}, 10*time.Second)
	if kind != "accepted" {
		t.Fatalf("create-from-csr: %q %s", kind, body)
	}
	var r struct {
		ID    string `json:"certificateId"`
		PEM   string `json:"certificatePem"`
		Token string `json:"certificateOwnershipToken"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.ID == "" || r.Token == "" || !strings.Contains(r.PEM, "BEGIN CERTIFICATE") {
		t.Fatalf("create-from-csr answer %s: %v", body, err)
	}
	return key, r.PEM, r.Token
}

// dialAs connects with a certificate the service issued.
func (w *world) dialAs(t *testing.T, id string, key *ecdsa.PrivateKey, certPEM string) error {
	t.Helper()
	block, _ := pem.Decode([]byte(certPEM))
	cli := w.cliTLS.Clone()
	cli.Certificates = []tls.Certificate{{Certificate: [][]byte{block.Bytes}, PrivateKey: key}}
	cli.GetClientCertificate = nil
	save := w.cliTLS
	w.cliTLS = cli
	defer func() { w.cliTLS = save }()
	c, err := w.dial(t, id, 60*time.Second)
	if err == nil {
		c.Disconnect(0)
	}
	return err
}

// TestProvisioningByClaim: the CSR is signed, the certificate is refused until RegisterThing
// activates it, then the broker accepts it; the thing name comes from the template.
func TestProvisioningByClaim(t *testing.T) {
	w, p := startProvisioning(t)
	c := w.mustDial(t, "claim-1")
	key, certPEM, tok := createCert(t, c)
	if err := w.dialAs(t, "pi-42", key, certPEM); err == nil {
		t.Fatal("the broker accepted a PENDING_ACTIVATION certificate")
	}
	kind, body := call(t, c, tmplTopic, map[string]any{"certificateOwnershipToken": tok,
		"parameters": map[string]string{"SerialNumber": "42"}}, 10*time.Second)
	if kind != "accepted" {
		t.Fatalf("register: %q %s", kind, body)
	}
	var r struct {
		Thing string            `json:"thingName"`
		Cfg   map[string]string `json:"deviceConfiguration"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Thing != "pi-42" || r.Cfg["site"] != "lab" {
		t.Fatalf("register answer %s: %v", body, err)
	}
	if err := w.dialAs(t, "pi-42", key, certPEM); err != nil {
		t.Fatalf("the broker refuses the activated certificate: %v", err)
	}
	certs := p.Certificates()
	if len(certs) != 1 || certs[0].State != awsiot.CertActive || certs[0].ThingName != "pi-42" {
		t.Fatalf("certificates %+v", certs)
	}
	// The token is spent.
	if kind, _ := call(t, c, tmplTopic, map[string]any{"certificateOwnershipToken": tok,
		"parameters": map[string]string{"SerialNumber": "42"}}, 10*time.Second); kind != "rejected" {
		t.Fatalf("a second RegisterThing with the same token: %q", kind)
	}
	if err := p.SetCertificateState(certs[0].ID, awsiot.CertRevoked); err != nil {
		t.Fatal(err)
	}
	if err := w.dialAs(t, "pi-42", key, certPEM); err == nil {
		t.Fatal("the broker accepted a revoked certificate")
	}
}

// TestProvisioningRejections: AWS's error shape for a missing template, a missing parameter,
// a bad token and a test-set rejection; a silenced RegisterThing never answers.
func TestProvisioningRejections(t *testing.T) {
	w, p := startProvisioning(t)
	c := w.mustDial(t, "claim-1")
	_, _, tok := createCert(t, c)
	cases := []struct {
		topic, token string
		params       map[string]string
		code         string
	}{
		{"$aws/provisioning-templates/nope/provision/json", tok, map[string]string{"SerialNumber": "1"}, "ResourceNotFound"},
		{tmplTopic, tok, map[string]string{}, "InvalidParameters"},
		{tmplTopic, "bogus", map[string]string{"SerialNumber": "1"}, "InvalidCertificateOwnershipToken"},
	}
	for _, tc := range cases {
		kind, body := call(t, c, tc.topic, map[string]any{"certificateOwnershipToken": tc.token, "parameters": tc.params}, 10*time.Second)
		var e awsiot.ProvisioningError
		if err := json.Unmarshal(body, &e); kind != "rejected" || err != nil || e.ErrorCode != tc.code || e.StatusCode == 0 || e.ErrorMessage == "" {
			t.Errorf("%s: %q %s, want rejected %s", tc.topic, kind, body, tc.code)
		}
	}
	p.RejectRegister(&awsiot.ProvisioningError{StatusCode: 403, ErrorCode: "AccessDenied", ErrorMessage: "hook says no"})
	kind, body := call(t, c, tmplTopic, map[string]any{"certificateOwnershipToken": tok, "parameters": map[string]string{"SerialNumber": "1"}}, 10*time.Second)
	if kind != "rejected" || !strings.Contains(string(body), `"errorCode":"AccessDenied"`) || !strings.Contains(string(body), `"statusCode":403`) {
		t.Fatalf("set rejection: %q %s", kind, body)
	}
	p.RejectRegister(nil)
	p.SilenceRegister(true)
	if kind, body := call(t, c, tmplTopic, map[string]any{"certificateOwnershipToken": tok, "parameters": map[string]string{"SerialNumber": "1"}}, time.Second); kind != "" {
		t.Fatalf("silenced RegisterThing answered %q %s", kind, body)
	}
	if n := p.Calls().RegisterThing; n != 5 {
		t.Fatalf("RegisterThing calls %d, want 5", n)
	}
}
