package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Provisioning is fleet provisioning by claim ([provisioning]); an empty Template switches it off.
type Provisioning struct {
	// Template is the AWS IoT provisioning template's name.
	Template string `toml:"template"`
	// ClaimCert and ClaimKey are the claim (bootstrap) certificate shared by a fleet.
	ClaimCert string `toml:"claim_cert"`
	ClaimKey  string `toml:"claim_key"`
	// ClientID is the claim connection's client ID; "" means mqtt.client_id.
	ClientID string `toml:"client_id"`
	// Parameters are the template's parameters: fixed strings, or ${serial}, ${mac} and
	// ${mac:IFACE} replaced by the device's values.
	Parameters map[string]string `toml:"parameters"`
	// Dir holds the device's key, its certificate and identity.json.
	Dir string `toml:"dir"`
	// CertFile and KeyFile are where the permanent certificate and key go; "" means
	// device.cert.pem and device.private.key in Dir.
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// Timeout bounds the whole exchange with AWS IoT, connection included.
	Timeout Duration `toml:"timeout"`
	// RotateBefore is how long before the certificate expires the running daemon replaces
	// it with a new key and certificate; 0 rotates only on `thingd rotate`.
	RotateBefore Duration `toml:"rotate_before"`
}

func provisioningDefaults() Provisioning {
	return Provisioning{Dir: "/var/lib/thingd/identity", Timeout: Duration(2 * time.Minute), RotateBefore: Duration(30 * 24 * time.Hour)}
}

// Enabled reports whether [provisioning] names a template.
func (p *Provisioning) Enabled() bool { return p.Template != "" }

// RotationFile records the outcome of the last certificate rotation.
func (p *Provisioning) RotationFile() string { return filepath.Join(p.Dir, "rotation.json") }

// FailureFile records why the last provisioning failed, for `thingd status` while no daemon
// runs; removed when provisioning succeeds.
func (p *Provisioning) FailureFile() string { return filepath.Join(p.Dir, "provisioning-failed.json") }

// RotateRequestFile asks the running daemon to rotate now (`thingd rotate`).
func (p *Provisioning) RotateRequestFile() string { return filepath.Join(p.Dir, "rotate.request") }

// IdentityFile is where the provisioned identity is recorded: its presence means the device
// is provisioned, and it is written last, so it is the commit point.
func (p *Provisioning) IdentityFile() string { return filepath.Join(p.Dir, "identity.json") }

// Identity is what fleet provisioning gave this device; it overrides mqtt.client_id,
// mqtt.thing_name, mqtt.cert_file and mqtt.key_file.
type Identity struct {
	ThingName           string            `json:"thing_name"`
	ClientID            string            `json:"client_id"`
	CertFile            string            `json:"cert_file"`
	KeyFile             string            `json:"key_file"`
	CertificateID       string            `json:"certificate_id"`
	Template            string            `json:"template"`
	ProvisionedAt       time.Time         `json:"provisioned_at"`
	DeviceConfiguration map[string]string `json:"device_configuration,omitempty"`
}

// ReadIdentity reads an identity file; a missing file is fs.ErrNotExist.
func ReadIdentity(path string) (*Identity, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var id Identity
	if err := json.Unmarshal(b, &id); err != nil {
		return nil, fmt.Errorf("identity file %s is not valid JSON: %w (delete it and run `thingd provision` again)", path, err)
	}
	if id.ClientID == "" || id.CertFile == "" || id.KeyFile == "" {
		return nil, fmt.Errorf("identity file %s lacks client_id, cert_file or key_file (delete it and run `thingd provision` again)", path)
	}
	return &id, nil
}

// Apply makes the provisioned identity the MQTT identity.
func (id *Identity) Apply(m *MQTT) {
	m.ClientID, m.ThingName, m.CertFile, m.KeyFile = id.ClientID, id.ThingName, id.CertFile, id.KeyFile
}

// Identity is the provisioned identity, nil when provisioning is off or not done yet.
func (c *Config) Identity() (*Identity, error) {
	if !c.Provisioning.Enabled() {
		return nil, nil
	}
	id, err := ReadIdentity(c.Provisioning.IdentityFile())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return id, err
}

// validateProvisioning checks [provisioning], makes its paths absolute and, once the device
// is provisioned, applies its identity, before the topics are expanded with the thing name.
func (cfg *Config) validateProvisioning(c *checker) {
	p := &cfg.Provisioning
	if !p.Enabled() {
		return
	}
	dir := "."
	if cfg.Path != "" {
		dir = filepath.Dir(cfg.Path)
	}
	for _, f := range []*string{&p.ClaimCert, &p.ClaimKey, &p.Dir, &p.CertFile, &p.KeyFile} {
		if *f != "" && !filepath.IsAbs(*f) {
			*f = filepath.Join(dir, *f)
		}
	}
	if p.Dir == "" {
		c.bad("provisioning.dir", "is empty; set a directory such as /var/lib/thingd/identity")
		return
	}
	if p.CertFile == "" {
		p.CertFile = filepath.Join(p.Dir, "device.cert.pem")
	}
	if p.KeyFile == "" {
		p.KeyFile = filepath.Join(p.Dir, "device.private.key")
	}
	if !validTemplateName(p.Template) {
		c.bad("provisioning.template", "%q is not a template name: AWS allows 1 to 36 letters, digits, - and _", p.Template)
	}
	if p.ClaimCert == "" || p.ClaimKey == "" {
		c.bad("provisioning.claim_cert", "claim_cert and claim_key are both needed to provision by claim; set them to the claim certificate and key of your fleet")
	}
	if p.RotateBefore < 0 {
		c.bad("provisioning.rotate_before", "is negative; use \"720h\" (30 days) or \"0s\" to rotate only on `thingd rotate`")
	}
	if p.Timeout.D() < time.Second {
		c.bad("provisioning.timeout", "is %s; use at least \"10s\"", p.Timeout.D())
	}
	keys := make([]string, 0, len(p.Parameters))
	for k := range p.Parameters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := CheckParameter(p.Parameters[k]); err != nil {
			c.bad("provisioning.parameters."+k, "%v", err)
		}
	}
	id, err := cfg.Identity()
	if err != nil {
		c.bad("provisioning.dir", "%v", err)
		return
	}
	if id != nil {
		id.Apply(&cfg.MQTT)
	}
}

func validTemplateName(s string) bool {
	if s == "" || len(s) > 36 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// CheckParameter refuses a ${...} placeholder other than ${serial}, ${mac} and ${mac:IFACE}.
func CheckParameter(v string) error {
	rest := v
	for {
		i := strings.Index(rest, "${")
		if i < 0 {
			return nil
		}
		j := strings.Index(rest[i:], "}")
		if j < 0 {
			return fmt.Errorf("%q has an unclosed ${; use ${serial}, ${mac} or ${mac:eth0}", v)
		}
		name := rest[i+2 : i+j]
		if name != "serial" && name != "mac" && !(strings.HasPrefix(name, "mac:") && len(name) > 4) {
			return fmt.Errorf("%q uses ${%s}; the device values are ${serial}, ${mac} and ${mac:IFACE}", v, name)
		}
		rest = rest[i+j+1:]
	}
}
