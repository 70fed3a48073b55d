package status

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestIdentityShown: a provisioned device's certificate expiry and last rotation appear in
// Text and JSON; without provisioning neither has a trace of them.
func TestIdentityShown(t *testing.T) {
	na := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	s := Status{Identity: &Identity{CertificateID: "0123456789abcdef0123", CertNotAfter: &na, Rotation: "failed", RotationError: "the broker refused the new certificate"}}
	txt := s.Text()
	for _, want := range []string{"identity    certificate 0123456789abcdef...", "expires 2027-01-0", "last rotation failed: the broker refused"} {
		if !strings.Contains(txt, want) {
			t.Errorf("Text lacks %q:\n%s", want, txt)
		}
	}
	b, _ := json.Marshal(s)
	if !strings.Contains(string(b), `"identity":{"certificate_id":"0123456789abcdef0123","cert_not_after":"2027-01-02T03:04:05Z","rotation":"failed"`) {
		t.Errorf("JSON %s", b)
	}
	s.Identity = nil
	if b, _ := json.Marshal(s); strings.Contains(string(b), "identity") || strings.Contains(s.Text(), "identity") {
		t.Errorf("without provisioning: %s\n%s", b, s.Text())
	}
}
