package check

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	thingtls "thingd/tls"
)

func (r *runner) trustStep() Result {
	if fe := r.files.byRole[thingtls.RoleCA]; fe != nil {
		return fileFail("trust", fe)
	}
	if r.files.other != nil {
		return fail("trust", r.files.other.Error(), "", nil)
	}
	t := r.trust()
	data := map[string]any{"trust": t.Source.String()}
	switch t.Source {
	case thingtls.TrustCAFile:
		data["path"] = t.File
		subjects := caSubjects(t.File)
		data["subjects"] = subjects
		return pass("trust", fmt.Sprintf("mqtt.ca_file %s: %s", t.File, strings.Join(subjects, "; ")), data)
	case thingtls.TrustSystem:
		return pass("trust", "the system trust store (mqtt.ca_file is empty)", data)
	}
	return pass("trust", thingtls.BuiltinTrustName+" (mqtt.ca_file is empty and this system has no trust store)", data)
}

// trust is the trust source Load chose. When Load failed for the device's own files it
// chose nothing, so the choice is made here by the same rule: ca_file, else a non-empty
// system store, else the built-in roots.
func (r *runner) trust() thingtls.Trust {
	if c := r.files.client; c != nil {
		return c.Trust
	}
	if f := r.cfg.MQTT.CAFile; f != "" {
		abs, _ := filepath.Abs(f)
		return thingtls.Trust{Source: thingtls.TrustCAFile, File: abs}
	}
	if pool, err := r.o.SystemPool(); err == nil && pool != nil && !pool.Equal(x509.NewCertPool()) {
		return thingtls.Trust{Source: thingtls.TrustSystem}
	}
	return thingtls.Trust{Source: thingtls.TrustBuiltin}
}

// caSubjects names the certificates in a CA file, so a person sees at a glance whether
// it holds Amazon Root CA 1 or something else.
func caSubjects(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []string
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return out
		}
		if c, err := x509.ParseCertificate(b.Bytes); err == nil && b.Type == "CERTIFICATE" {
			out = append(out, c.Subject.String())
		}
	}
}
