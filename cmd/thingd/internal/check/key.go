package check

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	thingtls "thingd/tls"
)

func (r *runner) keyStep() Result {
	if fe := r.files.byRole[thingtls.RoleKey]; fe != nil {
		return fileFail("key_file", fe)
	}
	path, _ := filepath.Abs(r.cfg.MQTT.KeyFile)
	if r.files.byRole[thingtls.RoleCert] != nil {
		return skip("key_file", fmt.Sprintf("%s can be read, but cannot be matched against a certificate that did not load", path))
	}
	data := map[string]any{"path": path}
	mode := ""
	if st, err := os.Stat(path); err == nil {
		mode = fmt.Sprintf("%04o", st.Mode().Perm())
		data["mode"] = mode
	}
	if len(r.files.warnings) > 0 {
		return warn("key_file", strings.Join(r.files.warnings, "; "), "chmod 600 "+path, data)
	}
	return pass("key_file", fmt.Sprintf("%s: matches the certificate, mode %s", path, mode), data)
}
