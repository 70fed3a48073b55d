package kit

import (
	"archive/zip"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io/fs"
	"math/big"
	"testing"
	"time"
)

// entry is one file of a zip built by a test.
type entry struct {
	name, body string
	mode       fs.FileMode // 0: a plain file 0644
}

func zipOf(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		h.SetMode(0o644)
		if e.mode != 0 {
			h.SetMode(e.mode)
		}
		f, err := w.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// keyPair makes a self-signed P-256 certificate and its key, as PEM.
func keyPair(t testing.TB) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "AWS IoT Certificate"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
}

const (
	testEndpoint = "a1b2c3d4e5f6g7-ats.iot.us-east-1.amazonaws.com"
	startSh      = `# stop script on error
set -e

# Check to see if root CA file exists, download if not
if [ ! -f ./root-CA.crt ]; then
  printf "\nDownloading AWS IoT Root CA certificate from AWS...\n"
  curl https://www.amazontrust.com/repository/AmazonRootCA1.pem > root-CA.crt
fi

# run pub/sub sample app using certificates downloaded in package
printf "\nRunning pub/sub sample application...\n"
python3 aws-iot-device-sdk-python-v2/samples/pubsub.py --endpoint ` + testEndpoint + ` --ca_file root-CA.crt --cert MyThing.cert.pem --key MyThing.private.key --client_id basicPubSub --topic sdk/test/python --count 0
`
	consolePolicy = `{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
     "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/sdk/test/java",
                  "arn:aws:iot:us-east-1:123456789012:topic/sdk/test/python",
                  "arn:aws:iot:us-east-1:123456789012:topic/sdk/test/js"]},
    {"Effect": "Allow", "Action": "iot:Subscribe",
     "Resource": ["arn:aws:iot:us-east-1:123456789012:topicfilter/sdk/test/python"]},
    {"Effect": "Allow", "Action": ["iot:Connect"],
     "Resource": ["arn:aws:iot:us-east-1:123456789012:client/sdk-java",
                  "arn:aws:iot:us-east-1:123456789012:client/basicPubSub",
                  "arn:aws:iot:us-east-1:123456789012:client/sdk-nodejs-*"]}
  ]
}`
)

// kitEntries are the files of a console kit for thing MyThing under dir ("" or "x/").
func kitEntries(dir, cert, key string) []entry {
	return []entry{
		{name: dir + "MyThing.cert.pem", body: cert},
		{name: dir + "MyThing.public.key", body: "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n"},
		{name: dir + "MyThing.private.key", body: key},
		{name: dir + "MyThing-Policy", body: consolePolicy},
		{name: dir + "start.sh", body: startSh, mode: 0o755},
	}
}
