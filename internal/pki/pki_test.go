package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newTestCA makes a CA with NewCA and loads it back.
func newTestCA(t *testing.T, cn string, now time.Time) *CA {
	t.Helper()
	certPEM, keyPEM, err := NewCA(cn, now)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := LoadCA(certPEM, keyPEM, now)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// newPair makes a key and a certificate for it with issue.
func newPair(t *testing.T, issue func(pub crypto.PublicKey) ([]byte, error)) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err = issue(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err = EncodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM
}

// signCA makes a CA certificate for key the way other tools do (no path length limit);
// parent nil means self-signed.
func signCA(t *testing.T, cn string, key crypto.Signer, parent *x509.Certificate, parentKey crypto.Signer, now time.Time) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(5, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	return pemCert(der)
}

func mustParse(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	certs, err := ParseCertificates(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certs[0]
}

func poolOf(t *testing.T, certPEM []byte) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(certPEM) {
		t.Fatal("no certificate in PEM")
	}
	return p
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestNewCA(t *testing.T) {
	certPEM, keyPEM, err := NewCA("etcd-appliance CA", t0)
	if err != nil {
		t.Fatal(err)
	}
	c := mustParse(t, certPEM)
	if !c.IsCA || !c.BasicConstraintsValid || c.MaxPathLen != 0 || !c.MaxPathLenZero {
		t.Errorf("basic constraints: IsCA %v valid %v MaxPathLen %d zero %v; want a CA that signs only leaves", c.IsCA, c.BasicConstraintsValid, c.MaxPathLen, c.MaxPathLenZero)
	}
	if want := x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature; c.KeyUsage != want {
		t.Errorf("KeyUsage = %v, want %v", c.KeyUsage, want)
	}
	if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key %T, want ECDSA P-256", c.PublicKey)
	}
	if !c.NotBefore.Equal(t0.Add(-time.Hour)) || !c.NotAfter.Equal(t0.AddDate(10, 0, 0)) {
		t.Errorf("validity %s to %s, want an hour before %s for 10 years", c.NotBefore, c.NotAfter, t0)
	}
	if c.Subject.CommonName != "etcd-appliance CA" || len(c.SubjectKeyId) == 0 {
		t.Errorf("CN %q, SubjectKeyId %x", c.Subject.CommonName, c.SubjectKeyId)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if b, _ := pem.Decode(keyPEM); b == nil || b.Type != "PRIVATE KEY" {
		t.Errorf("key is not a PKCS#8 PEM block:\n%s", keyPEM)
	}
	other, _, err := NewCA("etcd-appliance CA", t0)
	if err != nil {
		t.Fatal(err)
	}
	if s := mustParse(t, other).SerialNumber; s.Cmp(c.SerialNumber) == 0 || c.SerialNumber.BitLen() < 64 {
		t.Errorf("serials %v and %v: want random 128-bit serials", c.SerialNumber, s)
	}
}

func TestLoadCA(t *testing.T) {
	ecCert, ecKey, err := NewCA("ec", t0)
	if err != nil {
		t.Fatal(err)
	}
	ecSigner, err := ParseKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(ecSigner.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	otherCert, otherKey, err := NewCA("other", t0)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaCert := signCA(t, "rsa", rsaKey, nil, nil, t0)
	rsaPKCS8, err := EncodeKey(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPKCS8, err := EncodeKey(edKey)
	if err != nil {
		t.Fatal(err)
	}
	ca := newTestCA(t, "leaf issuer", t0)
	leafCert, leafKey := newPair(t, func(pub crypto.PublicKey) ([]byte, error) { return ca.IssueClient("alice", pub, t0) })
	oldCert, oldKey, err := NewCA("expired", t0.AddDate(-11, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	ecParams := pemBlock("EC PARAMETERS", []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07})

	tests := []struct {
		name      string
		cert, key []byte
		now       time.Time
		wantCN    string // the certificate that signs
		wantErr   string
	}{
		{name: "ECDSA PKCS#8", cert: ecCert, key: ecKey, wantCN: "ec"},
		{name: "ECDSA SEC 1", cert: ecCert, key: pemBlock("EC PRIVATE KEY", sec1), wantCN: "ec"},
		{name: "ECDSA SEC 1 after EC PARAMETERS", cert: ecCert, key: append(ecParams, pemBlock("EC PRIVATE KEY", sec1)...), wantCN: "ec"},
		{name: "RSA PKCS#1", cert: rsaCert, key: pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), wantCN: "rsa"},
		{name: "RSA PKCS#8", cert: rsaCert, key: rsaPKCS8, wantCN: "rsa"},
		{name: "Ed25519 PKCS#8", cert: signCA(t, "ed25519", edKey, nil, nil, t0), key: edPKCS8, wantCN: "ed25519"},
		{name: "rotation: key of the second CA", cert: append(append([]byte{}, otherCert...), ecCert...), key: ecKey, wantCN: "ec"},
		{name: "text around the PEM", cert: append([]byte("Certificate:\n    Data: ...\n"), ecCert...), key: ecKey, wantCN: "ec"},

		{name: "garbage certificate", cert: []byte("/etc/etcd/ca.crt"), key: ecKey, wantErr: "CA certificate: no PEM certificate found"},
		{name: "garbage key", cert: ecCert, key: []byte("c2VjcmV0"), wantErr: "CA key: no PEM private key found"},
		{name: "swapped", cert: ecKey, key: ecCert, wantErr: `is a "PRIVATE KEY", not a CERTIFICATE: are the certificate and the key swapped?`},
		{name: "encrypted key", cert: ecCert, key: pemBlock("ENCRYPTED PRIVATE KEY", []byte{1, 2, 3}), wantErr: "the key is encrypted"},
		{name: "corrupt key", cert: ecCert, key: pemBlock("EC PRIVATE KEY", []byte{1, 2, 3}), wantErr: "invalid EC PRIVATE KEY"},
		{name: "not a CA", cert: leafCert, key: leafKey, wantErr: `certificate "CN=alice" is not a CA certificate`},
		{name: "mismatched key", cert: ecCert, key: otherKey, wantErr: `CA key does not belong to the CA certificate "CN=ec"`},
		{name: "key of neither CA", cert: append(append([]byte{}, otherCert...), rsaCert...), key: ecKey, wantErr: "belongs to none of the 2 CA certificates"},
		{name: "expired", cert: oldCert, key: oldKey, wantErr: `CA certificate "CN=expired" expired on 2025-03-01`},
		{name: "not yet valid", cert: ecCert, key: ecKey, now: t0.Add(-2 * time.Hour), wantErr: "is not valid until 2026-03-01T11:00:00Z: check the clock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := tt.now
			if now.IsZero() {
				now = t0
			}
			ca, err := LoadCA(tt.cert, tt.key, now)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ca.Cert.Subject.CommonName != tt.wantCN {
				t.Errorf("signs with %q, want %q", ca.Cert.Subject.CommonName, tt.wantCN)
			}
			// The loaded CA must actually sign: a client certificate verifies against the
			// whole trust bundle.
			certPEM, _ := newPair(t, func(pub crypto.PublicKey) ([]byte, error) { return ca.IssueClient("bob", pub, now) })
			_, err = mustParse(t, certPEM).Verify(x509.VerifyOptions{Roots: poolOf(t, ca.CertPEM), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
			if err != nil {
				t.Errorf("issued certificate does not verify: %v", err)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	certPEM, _, err := NewCA("fp", t0)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := NewCA("fp", t0)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(certPEM)
	sum := sha256.Sum256(b.Bytes)
	tests := []struct {
		name    string
		pem     []byte
		want    string
		wantErr bool
	}{
		{name: "one certificate", pem: certPEM, want: "sha256:" + hex.EncodeToString(sum[:])},
		{name: "first of a bundle", pem: append(append([]byte{}, certPEM...), other...), want: "sha256:" + hex.EncodeToString(sum[:])},
		{name: "not PEM", pem: []byte("nope"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Fingerprint(tt.pem)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("Fingerprint = %q, %v; want %q (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
	if a, _ := Fingerprint(other); a == mustFingerprint(t, certPEM) {
		t.Error("two CAs with the same name have the same fingerprint")
	}
}

func mustFingerprint(t *testing.T, certPEM []byte) string {
	t.Helper()
	fp, err := Fingerprint(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	return fp
}
