package tls

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Role is what a file is for; it decides the wording of errors and their fix.
type Role int

const (
	RoleCA   Role = iota + 1 // mqtt.ca_file
	RoleCert                 // mqtt.cert_file
	RoleKey                  // mqtt.key_file
)

func (r Role) String() string {
	switch r {
	case RoleCA:
		return "CA file"
	case RoleCert:
		return "certificate file"
	case RoleKey:
		return "private key file"
	}
	return "file"
}

// ConfigKey is the configuration key that names the file.
func (r Role) ConfigKey() string {
	switch r {
	case RoleCA:
		return "mqtt.ca_file"
	case RoleCert:
		return "mqtt.cert_file"
	case RoleKey:
		return "mqtt.key_file"
	}
	return ""
}

// FileError is a problem with one of the files, worded for the person who has to fix it:
// "<role> <absolute path>: <problem>; <fix>". It wraps the cause, so errors.Is works
// with fs.ErrNotExist, fs.ErrPermission, ErrBadPEM and ErrKeyMismatch.
type FileError struct {
	Role    Role
	Path    string // absolute
	Problem string
	Fix     string
	Err     error
}

func (e *FileError) Error() string {
	s := e.Role.String() + " " + e.Path + ": " + e.Problem
	if e.Fix != "" {
		s += "; " + e.Fix
	}
	return s
}

func (e *FileError) Unwrap() error { return e.Err }

// absPath names files absolutely, because the daemon's working directory means nothing
// to the person reading the journal.
func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// readFile reads one of the device's files, explaining every way it can be absent.
func readFile(role Role, path string) ([]byte, error) {
	if path == "" {
		return nil, &FileError{Role: role, Path: `""`, Problem: "not set",
			Fix: "set " + role.ConfigKey() + " in the configuration", Err: fs.ErrNotExist}
	}
	path = absPath(path)
	fe := func(problem, fix string, err error) error {
		return &FileError{Role: role, Path: path, Problem: problem, Fix: fix, Err: err}
	}
	st, err := os.Stat(path)
	if err == nil && st.IsDir() {
		return nil, fe("is a directory, not a file",
			"set "+role.ConfigKey()+" to the file itself", errors.New("is a directory"))
	}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		problem := "no such file"
		if _, derr := os.Stat(filepath.Dir(path)); errors.Is(derr, fs.ErrNotExist) {
			problem = "no such file (directory " + filepath.Dir(path) + " does not exist either)"
		}
		return nil, fe(problem, missingFix(role), err)
	case errors.Is(err, fs.ErrPermission):
		return nil, fe(fmt.Sprintf("permission denied for uid %d", os.Geteuid()),
			permissionFix(role, path), err)
	case err != nil:
		return nil, fe(err.Error(), "", err)
	case len(data) == 0:
		return nil, fe("file is empty", missingFix(role), ErrBadPEM)
	}
	return data, nil
}

func missingFix(role Role) string {
	switch role {
	case RoleCA:
		return "download https://www.amazontrust.com/repository/AmazonRootCA1.pem there, " +
			`or set mqtt.ca_file = "" to use the system trust store`
	case RoleCert:
		return "put the certificate from the AWS IoT console there or set mqtt.cert_file"
	case RoleKey:
		return "put the private key from the AWS IoT console there or set mqtt.key_file"
	}
	return ""
}

func permissionFix(role Role, path string) string {
	mode := "644"
	if role == RoleKey {
		mode = "600"
	}
	return fmt.Sprintf("let the thingd user read it: chown thingd %s && chmod %s %s", path, mode, path)
}
