package check

import (
	"errors"
	"fmt"

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
	// The AWS IoT console lists certificates by this ID; the first 10 digits find it.
	return pass("cert_file", fmt.Sprintf("%s: %s, issued by %s, valid %s to %s, certificate ID %s…",
		info.Path, info.Subject, info.Issuer, stamp(info.NotBefore), stamp(info.NotAfter), info.ID[:10]),
		map[string]any{"path": info.Path, "subject": info.Subject, "issuer": info.Issuer,
			"not_before": info.NotBefore.UTC(), "not_after": info.NotAfter.UTC(), "certificate_id": info.ID})
}
