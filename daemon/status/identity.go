package status

import (
	"fmt"
	"strings"
	"time"
)

// Identity is the identity fleet provisioning gave the device, and the rotation of its
// certificate; absent when the device was not provisioned by claim.
type Identity struct {
	CertificateID string     `json:"certificate_id"`
	CertNotAfter  *time.Time `json:"cert_not_after,omitempty"`
	// Rotation is the outcome of the last rotation: "done", "failed", or "" for none yet.
	Rotation      string     `json:"rotation,omitempty"`
	RotationAt    *time.Time `json:"rotation_at,omitempty"`
	RotationError string     `json:"rotation_error,omitempty"`
}

func (i *Identity) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "certificate %s", shorten(i.CertificateID, 16))
	if i.CertNotAfter != nil {
		fmt.Fprintf(&b, ", expires %s", i.CertNotAfter.Local().Format(time.RFC3339))
	}
	switch i.Rotation {
	case "":
		b.WriteString(", never rotated")
	default:
		fmt.Fprintf(&b, ", last rotation %s", i.Rotation)
		if i.RotationAt != nil {
			fmt.Fprintf(&b, " at %s", i.RotationAt.Local().Format(time.RFC3339))
		}
		if i.RotationError != "" {
			fmt.Fprintf(&b, ": %s", i.RotationError)
		}
	}
	return "identity    " + b.String() + "\n"
}
