package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"thingd/cmd/thingd/internal/kit"
	"thingd/daemon/config"
	"thingd/internal/atomicfile"
)

// exampleEndpoint is the placeholder in packaging/thingd.toml: a config still holding
// it is the packaged example, which import replaces without --force.
const exampleEndpoint = "a1b2c3d4e5-ats.iot.ap-northeast-1.amazonaws.com"

// installed is one file import writes; owned files go to the service user.
type installed struct {
	what, path string
	data       []byte
	mode       fs.FileMode
	owned      bool
}

func importCmd(_ context.Context, e *env, args []string) error {
	flags := newFlags("import", e)
	cfgFlag := flags.String("config", "", "config file to write (default $THINGD_CONFIG or "+config.DefaultPath+"); the certificate and key go to certs/ beside it")
	force := flags.Bool("force", false, "replace an existing config, certificate or key")
	if err := parse(flags, args, 1); err != nil {
		return err
	}
	if flags.NArg() != 1 {
		return usagef("import: name the kit: thingd import [--config FILE] [--force] connect_device_package.zip")
	}
	zipPath := flags.Arg(0)
	k, err := readKit(zipPath)
	if err != nil {
		return err
	}
	if k.BadEndpoint != "" {
		return fmt.Errorf("%s in %s gives the endpoint %q, which is not a hostname (want something like %s, without scheme, port or shell variables); nothing was written: fix the kit, or import a fresh one from the AWS IoT console",
			k.Script, zipPath, k.BadEndpoint, exampleEndpoint)
	}
	cfgPath, err := filepath.Abs(config.Resolve(*cfgFlag))
	if err != nil {
		return err
	}
	certsDir := filepath.Join(filepath.Dir(cfgPath), "certs")
	setup := k.Setup(filepath.Base(zipPath), "certs/"+k.Thing+".cert.pem", "certs/"+k.Thing+".private.key")
	files := []installed{
		{"certificate", filepath.Join(certsDir, k.Thing+".cert.pem"), k.Cert, 0o644, true},
		{"private key", filepath.Join(certsDir, k.Thing+".private.key"), k.Key, 0o600, true},
		{"config", cfgPath, setup.Config, 0o644, false},
	}
	if !*force {
		if err := refuseOverwrite(files); err != nil {
			return err
		}
	}

	uid, gid, hasOwner := serviceOwner()
	warn := func(format string, a ...any) { fmt.Fprintf(e.stderr, "thingd: warning: "+format+"\n", a...) }
	if err := makeCertsDir(certsDir, gid, hasOwner); err != nil {
		return err
	}
	var done strings.Builder
	for _, f := range files {
		if err := atomicfile.Write(f.path, f.data, f.mode); err != nil {
			return fmt.Errorf("install %s %s: %w", f.what, f.path, err)
		}
		owner := ""
		if f.owned && hasOwner {
			owner = ", owner thingd"
			if err := os.Chown(f.path, uid, gid); err != nil {
				warn("the service cannot read %s: %v; run: sudo chown thingd:thingd %s", f.path, err, f.path)
			}
		}
		fmt.Fprintf(&done, "  %-12s %s (%04o%s)\n", f.what, f.path, f.mode, owner)
	}
	fmt.Fprintf(e.stdout, "Imported thing %s from %s:\n%s", k.Thing, zipPath, done.String())
	endpoint := k.Endpoint
	if endpoint == "" {
		endpoint = "(none in the kit)"
	}
	fmt.Fprintf(e.stdout, "  %-12s %s, port 8883, client ID %s\n", "endpoint", endpoint, setup.ClientID)
	for _, w := range setup.Warnings {
		warn("%s", w)
	}

	check := "thingd check"
	if cfgPath != config.DefaultPath {
		check += " --config " + shellQuote(cfgPath)
	}
	if k.Endpoint == "" {
		why := fmt.Sprintf("%s holds no start.sh to read the endpoint from", zipPath)
		if k.Script != "" {
			why = fmt.Sprintf("%s in %s names no --endpoint", k.Script, zipPath)
		}
		return fmt.Errorf("%s: edit %s and %s; then run: %s", why, cfgPath, kit.NoEndpointFix, check)
	}
	fmt.Fprintf(e.stdout, "Next:\n  %s\n  systemctl enable --now thingd", check)
	if cfgPath != config.DefaultPath {
		fmt.Fprintf(e.stdout, "   # the service reads %s", config.DefaultPath)
	}
	fmt.Fprintln(e.stdout)
	return nil
}

func readKit(path string) (*kit.Kit, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open kit: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a file: name the connect_device_package.zip the AWS IoT console downloaded", path)
	}
	k, err := kit.Read(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// refuseOverwrite names every file that import would replace. A certificate or key
// with the same content is no conflict (importing twice is harmless); the packaged
// example config is none either, since it cannot connect anywhere.
func refuseOverwrite(files []installed) error {
	var errs []error
	for _, f := range files {
		old, err := os.ReadFile(f.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			errs = append(errs, fmt.Errorf("cannot check the existing %s %s: %w", f.what, f.path, err))
		case f.what == "config" && isExample(f.path, old):
			continue
		case f.what == "config":
			errs = append(errs, fmt.Errorf("config %s already exists; pass --force to replace it (keep a copy if it holds your edits)", f.path))
		case !bytes.Equal(old, f.data):
			errs = append(errs, fmt.Errorf("%s %s already exists and differs from the kit's; pass --force to replace it (keep a copy if you may need it again)", f.what, f.path))
		}
	}
	return errors.Join(errs...)
}

func isExample(path string, doc []byte) bool {
	cfg, err := config.Parse(path, doc)
	return err == nil && cfg.MQTT.Endpoint == exampleEndpoint
}

// serviceOwner is the user and group the daemon runs as, when the package made them.
func serviceOwner() (uid, gid int, ok bool) {
	u, err := user.Lookup("thingd")
	if err != nil {
		return 0, 0, false
	}
	group := u.Gid
	if g, err := user.LookupGroup("thingd"); err == nil {
		group = g.Gid
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(group)
	return uid, gid, err1 == nil && err2 == nil
}

// makeCertsDir creates certs/ as the package does (0750, group thingd), so the key
// is reachable by the service only. An existing folder is left as its owner set it.
func makeCertsDir(dir string, gid int, chgrp bool) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(dir), err)
	}
	err := os.Mkdir(dir, 0o750)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err == nil {
		err = os.Chmod(dir, 0o750) // the umask may have taken more
	}
	if err == nil && chgrp {
		err = os.Chown(dir, -1, gid)
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return nil
}

func shellQuote(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
