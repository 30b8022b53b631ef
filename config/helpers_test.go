package config

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testPKI makes throw-away certificates (ECDSA P-256) and returns PEM texts by placeholder, each
// quoted so it can be pasted into YAML or JSON.
func testPKI(t testing.TB) *strings.Replacer {
	t.Helper()
	ca, caKey := newCert(t, "test CA", nil, nil, nil)
	other, otherKey := newCert(t, "other CA", nil, nil, nil)
	both := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	node, nodeKey := newCert(t, "etcd-a", ca, caKey, both)
	_, spareKey := newCert(t, "etcd-b", ca, caKey, both)
	client, _ := newCert(t, "client", ca, caKey, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth})
	stranger, _ := newCert(t, "stranger", other, otherKey, both)

	pkcs8, err := x509.MarshalPKCS8PrivateKey(caKey)
	if err != nil {
		t.Fatal(err)
	}
	q := func(typ string, der []byte) string {
		return strconv.Quote(string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})))
	}
	return strings.NewReplacer(
		"{{ca}}", q("CERTIFICATE", ca.Raw),
		"{{ca_key}}", q("EC PRIVATE KEY", ecDER(t, caKey)),
		"{{ca_key_pkcs8}}", q("PRIVATE KEY", pkcs8),
		"{{ca_key_then_text}}", strconv.Quote(string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER(t, caKey)}))+"see ca.crt\n"),
		"{{other_ca}}", q("CERTIFICATE", other.Raw),
		"{{other_key}}", q("EC PRIVATE KEY", ecDER(t, otherKey)),
		"{{node}}", q("CERTIFICATE", node.Raw),
		"{{node_key}}", q("EC PRIVATE KEY", ecDER(t, nodeKey)),
		"{{spare_key}}", q("EC PRIVATE KEY", ecDER(t, spareKey)),
		"{{client}}", q("CERTIFICATE", client.Raw),
		"{{stranger}}", q("CERTIFICATE", stranger.Raw),
		"{{openssl_ca}}", strconv.Quote(opensslCA),
		"{{openssl_ecparam_key}}", strconv.Quote(opensslECParamKey),
		"{{nosign_ca}}", strconv.Quote(opensslNoCertSignCA),
		"{{nosign_key}}", strconv.Quote(opensslNoCertSignKey),
		"{{ssh}}", strconv.Quote(sshKey(t, "ssh-ed25519", "ssh-ed25519")+" user@host"),
		"{{ssh2}}", strconv.Quote(sshKey(t, "ssh-ed25519", "ssh-ed25519")),
	)
}

// newCert makes a CA certificate when parent is nil, else a leaf signed by parent.
func newCert(t testing.TB, cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, eku []x509.ExtKeyUsage) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		ExtKeyUsage:  eku,
	}
	signer, signerKey := tmpl, key
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign
	} else {
		signer, signerKey = parent, parentKey
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func ecDER(t testing.TB, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// sshKey makes an authorized_keys line whose declared type is typ and whose blob says inner.
func sshKey(t testing.TB, typ, inner string) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var blob []byte
	for _, s := range [][]byte{[]byte(inner), pub} {
		blob = binary.BigEndian.AppendUint32(blob, uint32(len(s)))
		blob = append(blob, s...)
	}
	return typ + " " + base64.StdEncoding.EncodeToString(blob)
}
