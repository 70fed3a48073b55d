package check

import (
	"errors"
	"fmt"

	"thingd/daemon/config"
)

func (r *runner) configStep() Result {
	m := r.cfg.MQTT
	detail := fmt.Sprintf("%s: endpoint %s, client ID %q, thing %q", r.cfg.Path, r.addr, m.ClientID, r.cfg.Thing())
	data := map[string]any{"path": r.cfg.Path, "endpoint": m.Endpoint, "port": m.Port, "client_id": m.ClientID, "thing": r.cfg.Thing()}
	if m.Proxy != "" {
		detail += ", through proxy " + redact(m.Proxy)
		data["proxy"] = redact(m.Proxy)
	}
	return pass("config", detail, data)
}

// ConfigFailed is the config step when config.Load failed: one line per problem, each
// naming the file, the line and the key.
func ConfigFailed(path string, err error) []Result {
	var ve *config.ValidationError
	if errors.As(err, &ve) && len(ve.Problems) > 0 {
		out := make([]Result, 0, len(ve.Problems))
		for _, p := range ve.Problems {
			data := map[string]any{"path": p.File}
			if p.Line > 0 {
				data["line"] = p.Line
			}
			if p.Key != "" {
				data["key"] = p.Key
			}
			out = append(out, fail("config", p.String(), "edit the file at the line and key named", data))
		}
		return out
	}
	data := map[string]any{"path": path}
	if errors.Is(err, config.ErrNotFound) { // its message carries the fix; say it once
		return []Result{fail("config", "config file not found: "+path,
			"create it, run `thingd import KIT.zip`, or pass --config FILE", data)}
	}
	return []Result{fail("config", err.Error(), "fix the file, or pass --config FILE", data)}
}
