package provision

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"thingd/daemon/config"
	"thingd/internal/atomicfile"
)

// The files of one provisioning. Each new file is first written under its final name plus
// pendingSuffix, beside it (so the rename stays in one directory). identity.json is renamed
// last: it is the commit point. A pending identity means certificate and key are complete
// and registered, so recover finishes the renames; without one, the pending key and
// certificate belong to an attempt that never finished (its ownership token lasts an hour
// anyway) and are deleted, so a retried provisioning never leaves two keys.
const pendingSuffix = ".pending"

type files struct {
	key, cert, identity string
}

func filesOf(p *config.Provisioning) files {
	return files{key: p.KeyFile, cert: p.CertFile, identity: p.IdentityFile()}
}

func pending(path string) string { return path + pendingSuffix }

func (f files) dirs() []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range []string{f.key, f.cert, f.identity} {
		if d := filepath.Dir(p); !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

func (f files) syncDirs() error {
	for _, d := range f.dirs() {
		if err := atomicfile.SyncDir(d); err != nil {
			return fmt.Errorf("sync %s: %w", d, err)
		}
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// recover brings the files to the old state or the new one after a crash; it reports
// whether it completed a provisioning that had been committed. A rotation whose new
// certificate was never confirmed by a connection is undone (see promote).
func (f files) recover() (completed bool, err error) {
	completed, err = f.rollForward()
	if err != nil {
		return false, err
	}
	if !completed {
		if err := f.discardPending(); err != nil {
			return false, err
		}
	}
	for _, p := range []string{f.key, f.cert, f.identity} {
		if exists(p + oldSuffix) {
			return completed, f.rollback()
		}
	}
	return completed, nil
}

// rollForward finishes a commit whose identity was written.
func (f files) rollForward() (bool, error) {
	if !exists(pending(f.identity)) {
		return false, nil
	}
	for _, p := range []string{f.key, f.cert} {
		if exists(pending(p)) {
			if err := os.Rename(pending(p), p); err != nil {
				return false, fmt.Errorf("finish the interrupted provisioning: %w", err)
			}
		}
	}
	if err := f.syncDirs(); err != nil {
		return false, err
	}
	if err := os.Rename(pending(f.identity), f.identity); err != nil {
		return false, fmt.Errorf("finish the interrupted provisioning: %w", err)
	}
	return true, f.syncDirs()
}

// discardPending deletes the key and certificate of an attempt that was not committed.
func (f files) discardPending() error {
	removed := false
	for _, p := range []string{f.key, f.cert} {
		err := os.Remove(pending(p))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s left by an interrupted provisioning: %w", pending(p), err)
		}
		removed = removed || err == nil
	}
	if !removed {
		return nil
	}
	return f.syncDirs()
}

// newKey makes the device's ECDSA P-256 key, writes it (0600) as the pending key and
// returns it with a CSR for it.
func (f files) newKey(cn string) (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate a P-256 key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode the key: %w", err)
	}
	for _, d := range f.dirs() {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, nil, fmt.Errorf("create %s: %w (is the state directory writable by thingd?)", d, err)
		}
	}
	if err := atomicfile.Write(pending(f.key), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, nil, fmt.Errorf("write the new key: %w", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("make the CSR: %w", err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}), nil
}

func (f files) writeCert(certPEM []byte) error {
	if err := atomicfile.Write(pending(f.cert), certPEM, 0o644); err != nil {
		return fmt.Errorf("write the new certificate: %w", err)
	}
	return nil
}

// commit writes the identity and renames the pending pair into place.
func (f files) commit(id *config.Identity) error {
	if err := f.checkPending(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(pending(f.identity), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write the identity: %w", err)
	}
	_, err = f.rollForward()
	return err
}

// lock keeps two thingd processes (the unit and a `thingd provision` typed meanwhile, or a
// rotation) from writing the same pending files at once. The lock goes with the process.
func (f files) lock() (unlock func(), err error) {
	dir := filepath.Dir(f.identity)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w (is the state directory writable by thingd?)", dir, err)
	}
	path := filepath.Join(dir, ".lock")
	fd, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := syscall.Flock(int(fd.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fd.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another thingd is provisioning or rotating right now (it holds %s); wait for it, or stop it with `systemctl stop thingd`", path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { fd.Close() }, nil
}

// checkPending makes sure the pending key and certificate are one pair before they are put
// in place.
func (f files) checkPending() error {
	if _, err := tls.LoadX509KeyPair(pending(f.cert), pending(f.key)); err != nil {
		return fmt.Errorf("the new certificate %s and key %s are not a pair (%w); not using them", pending(f.cert), pending(f.key), err)
	}
	return nil
}
