package check

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"thingd/daemon/config"
	"thingd/daemon/provision"
	thingtls "thingd/tls"
)

func (r *runner) certStep() Result {
	if fe := r.files.byRole[thingtls.RoleCert]; fe != nil {
		return fileFail("cert_file", fe)
	}
	info, err := thingtls.InspectCertificate(r.cfg.MQTT.CertFile)
	if err != nil {
		var fe *thingtls.FileError
		if errors.As(err, &fe) {
			return fileFail("cert_file", fe)
		}
		return fail("cert_file", err.Error(), "", map[string]any{"path": r.cfg.MQTT.CertFile})
	}
	r.cert = &info
	data := map[string]any{"path": info.Path, "subject": info.Subject, "issuer": info.Issuer,
		"not_before": info.NotBefore.UTC(), "not_after": info.NotAfter.UTC(), "certificate_id": info.ID}
	// The AWS IoT console lists certificates by this ID; the first 10 digits find it.
	detail := fmt.Sprintf("%s: %s, issued by %s, valid %s to %s, certificate ID %s…",
		info.Path, info.Subject, info.Issuer, stamp(info.NotBefore), stamp(info.NotAfter), info.ID[:10])
	if p := &r.cfg.Provisioning; p.Enabled() {
		detail += "; " + rotationState(p, info.NotAfter, data)
	}
	return pass("cert_file", detail, data)
}

// rotationState says when the running daemon rotates the certificate and how the last
// rotation went (rotation.json), for a device that got its identity by provisioning.
func rotationState(p *config.Provisioning, notAfter time.Time, data map[string]any) string {
	var parts []string
	if before := p.RotateBefore.D(); before > 0 {
		due := notAfter.Add(-before)
		data["rotation_due"] = due.UTC()
		parts = append(parts, "rotation due "+stamp(due))
	} else {
		parts = append(parts, "rotation only on `thingd rotate`")
	}
	st, err := provision.ReadRotation(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		parts = append(parts, "never rotated")
	case err != nil:
		parts = append(parts, "last rotation unknown: "+err.Error())
	default:
		data["rotation"] = st
		last := fmt.Sprintf("last rotation %s at %s", st.State, stamp(st.At))
		if st.Error != "" {
			last += ": " + st.Error
		}
		parts = append(parts, last)
	}
	return strings.Join(parts, ", ")
}
