package tls

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every missing file is named with its absolute path and its fix, all in one error.
func TestLoadNamesEveryMissingFile(t *testing.T) {
	tests := []struct {
		name    string
		missing []Role
	}{
		{"certificate", []Role{RoleCert}},
		{"key", []Role{RoleKey}},
		{"ca", []Role{RoleCA}},
		{"all three", []Role{RoleCA, RoleCert, RoleKey}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDevice(t)
			o := d.options()
			paths := map[Role]*string{RoleCA: &o.CAFile, RoleCert: &o.CertFile, RoleKey: &o.KeyFile}
			for _, r := range tt.missing {
				*paths[r] = filepath.Join(d.dir, "absent", r.ConfigKey())
			}
			_, err := Load(o)
			if !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("Load = %v, want fs.ErrNotExist", err)
			}
			for _, r := range tt.missing {
				want := r.String() + " " + *paths[r] + ": no such file"
				if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), r.ConfigKey()) {
					t.Errorf("error does not name %q and %s:\n%v", want, r.ConfigKey(), err)
				}
			}
			if n := strings.Count(err.Error(), "no such file"); n != len(tt.missing) {
				t.Errorf("%d files reported missing, want %d:\n%v", n, len(tt.missing), err)
			}
		})
	}
}

// A relative path is reported absolutely: the daemon's working directory means nothing
// to someone reading the journal.
func TestLoadNamesRelativePathAbsolutely(t *testing.T) {
	d := newDevice(t)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(d.dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chdir(wd) })
	o := d.options()
	o.CertFile = "certs/device.cert.pem"
	_, err = Load(o)
	want := "certificate file " + filepath.Join(d.dir, "certs", "device.cert.pem") + ": no such file (directory " +
		filepath.Join(d.dir, "certs") + " does not exist either); put the certificate from the AWS IoT console there or set mqtt.cert_file"
	if err == nil || err.Error() != want {
		t.Fatalf("Load = %v\nwant  %s", err, want)
	}
}

// An unreadable file says so. Tests run as root, whom chmod 000 does not stop, so a
// directory in place of the file stands in for "cannot be read"; the permission case
// runs only for other users.
func TestLoadUnreadableFile(t *testing.T) {
	t.Run("directory", func(t *testing.T) {
		d := newDevice(t)
		os.Remove(d.keyFile)
		if err := os.Mkdir(d.keyFile, 0o700); err != nil {
			t.Fatal(err)
		}
		_, err := Load(d.options())
		var fe *FileError
		if !errors.As(err, &fe) || fe.Role != RoleKey || fe.Path != d.keyFile {
			t.Fatalf("Load = %v, want a FileError for %s", err, d.keyFile)
		}
		if !strings.Contains(err.Error(), d.keyFile+": is a directory, not a file; set mqtt.key_file") {
			t.Errorf("unexpected wording: %v", err)
		}
	})
	t.Run("permission", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root reads files whatever their mode")
		}
		d := newDevice(t)
		if err := os.Chmod(d.certFile, 0); err != nil {
			t.Fatal(err)
		}
		_, err := Load(d.options())
		if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "chown thingd "+d.certFile) {
			t.Fatalf("Load = %v, want a permission error with the fix", err)
		}
	})
}

// Content that is not what the file should hold says which file and what was found.
func TestLoadBadPEM(t *testing.T) {
	d := newDevice(t)
	other := d.ca.issue(t, leafOpts{cn: "other"})
	der := other.cert.Raw
	encrypted := []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----\n")
	legacyEncrypted := []byte("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00000000000000000000000000000000\n\nAAAA\n-----END RSA PRIVATE KEY-----\n")
	tests := []struct {
		name string
		role Role
		data []byte
		want string
	}{
		{"garbage certificate", RoleCert, []byte("hello, world\n"), "no PEM data: 13 bytes without a -----BEGIN CERTIFICATE----- line"},
		{"DER certificate", RoleCert, der, "no PEM data: is this a DER file?; if so, convert it: openssl x509 -inform der"},
		{"DER key", RoleKey, []byte{0x30, 0x82, 0x01}, "no PEM data: is this a DER file?; if so, convert it: openssl pkey -inform der"},
		{"key in certificate file", RoleCert, d.client.keyPEM, "found a PRIVATE KEY block where a CERTIFICATE was expected; are mqtt.cert_file and mqtt.key_file swapped?"},
		{"certificate in key file", RoleKey, d.client.certPEM, "found a CERTIFICATE block where a PRIVATE KEY was expected; are mqtt.cert_file and mqtt.key_file swapped?"},
		{"key in CA file", RoleCA, d.client.keyPEM, "found a PRIVATE KEY block where a CERTIFICATE was expected"},
		{"truncated certificate", RoleCert, d.client.certPEM[:len(d.client.certPEM)/2], "PEM data is damaged"},
		{"broken certificate", RoleCert, pemBlock("CERTIFICATE", []byte("not DER")), "PEM block 1 is a CERTIFICATE that does not parse"},
		{"broken key", RoleKey, pemBlock("PRIVATE KEY", []byte("not DER")), "the PRIVATE KEY block does not parse"},
		{"empty key", RoleKey, nil, "file is empty; put the private key from the AWS IoT console there"},
		{"encrypted key", RoleKey, encrypted, "the key is encrypted with a passphrase"},
		{"legacy encrypted key", RoleKey, legacyEncrypted, "the key is encrypted with a passphrase"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := d.options()
			path := writeFile(t, t.TempDir(), "file.pem", tt.data, 0o600)
			switch tt.role {
			case RoleCA:
				o.CAFile = path
			case RoleCert:
				o.CertFile = path
			case RoleKey:
				o.KeyFile = path
			}
			_, err := Load(o)
			if !errors.Is(err, ErrBadPEM) {
				t.Fatalf("Load = %v, want ErrBadPEM", err)
			}
			prefix := tt.role.String() + " " + path + ": "
			if !strings.Contains(err.Error(), prefix+tt.want) {
				t.Errorf("error\n%v\ndoes not contain\n%s", err, prefix+tt.want)
			}
		})
	}
}

// A key from another certificate is its own error, distinct from a broken file.
func TestLoadKeyMismatch(t *testing.T) {
	d := newDevice(t)
	other := d.ca.issue(t, leafOpts{cn: "someone else"})
	writeFile(t, d.dir, "device.private.key", other.keyPEM, 0o600)
	_, err := Load(d.options())
	if !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("Load = %v, want ErrKeyMismatch", err)
	}
	if errors.Is(err, ErrBadPEM) {
		t.Error("a mismatch must not look like bad PEM")
	}
	want := "private key file " + d.keyFile + ": does not match the certificate in " + d.certFile
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}

// Older keys in PKCS#1 and SEC 1 form load too, with the EC PARAMETERS block that
// `openssl ecparam -genkey` writes first.
func TestLoadKeyFormats(t *testing.T) {
	d := newDevice(t)
	ecDER, err := x509.MarshalECPrivateKey(d.client.pair.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	params := pemBlock("EC PARAMETERS", []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07})
	writeFile(t, d.dir, "device.private.key", append(params, pemBlock("EC PRIVATE KEY", ecDER)...), 0o600)
	if _, err := Load(d.options()); err != nil {
		t.Fatalf("SEC 1 key: %v", err)
	}

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serials.Add(1)), Subject: pkix.Name{CommonName: "rsa device"},
		NotBefore: t0, NotAfter: t0.AddDate(1, 0, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, d.ca.cert, rsaKey.Public(), d.ca.key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, d.dir, "device.cert.pem", pemBlock("CERTIFICATE", der), 0o644)
	writeFile(t, d.dir, "device.private.key", pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), 0o600)
	c, err := Load(d.options())
	if err != nil {
		t.Fatalf("PKCS#1 key: %v", err)
	}
	if c.Device.Subject != "CN=rsa device" {
		t.Errorf("Device.Subject = %q", c.Device.Subject)
	}
}
