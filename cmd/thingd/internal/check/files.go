package check

import (
	"errors"
	"time"

	thingtls "thingd/tls"
)

// files is what the tls package said about the certificate, key and CA files.
type files struct {
	client   *thingtls.Client // nil unless all three loaded
	byRole   map[thingtls.Role]*thingtls.FileError
	other    error    // a failure that is no file's (e.g. broken built-in roots)
	warnings []string // e.g. a key readable by others
}

// loadFiles asks tls.Load, the daemon's own loader, so check judges the files exactly as
// `thingd run` will.
func (r *runner) loadFiles() {
	opts := r.tlsOptions(r.o.Now)
	c, err := thingtls.Load(opts)
	r.files = files{client: c, byRole: map[thingtls.Role]*thingtls.FileError{}}
	if c != nil {
		r.files.warnings = c.Warnings
		return
	}
	var others []error
	for _, e := range flatten(err) {
		var fe *thingtls.FileError
		if errors.As(e, &fe) {
			if _, dup := r.files.byRole[fe.Role]; !dup {
				r.files.byRole[fe.Role] = fe
			}
			continue
		}
		others = append(others, e)
	}
	r.files.other = errors.Join(others...)
	// Load returns no Client when any file failed; when only the CA file did, load again
	// without it so that the key's permission warning is still reported.
	if r.files.byRole[thingtls.RoleCert] == nil && r.files.byRole[thingtls.RoleKey] == nil && opts.CAFile != "" {
		opts.CAFile = ""
		if c, err := thingtls.Load(opts); err == nil {
			r.files.warnings = c.Warnings
		}
	}
}

func (r *runner) tlsOptions(now func() time.Time) thingtls.Options {
	m := r.cfg.MQTT
	return thingtls.Options{Host: m.Endpoint, Port: m.Port, CAFile: m.CAFile, CertFile: m.CertFile,
		KeyFile: m.KeyFile, Now: now, SystemPool: r.o.SystemPool}
}

// flatten opens errors.Join trees.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

func fileFail(step string, fe *thingtls.FileError) Result {
	return fail(step, fe.Role.String()+" "+fe.Path+": "+fe.Problem, fe.Fix, map[string]any{"path": fe.Path})
}
