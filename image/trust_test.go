package image

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testRoot(t *testing.T, name string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestWriteCABundle(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, caSourceDir, "mozilla")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	// the second without its final newline: the bundle must still hold two parseable blocks
	a, b := testRoot(t, "Root A"), testRoot(t, "Root B")
	os.WriteFile(filepath.Join(src, "B.crt"), b[:len(b)-1], 0o644)
	os.WriteFile(filepath.Join(src, "A.crt"), a, 0o644)
	os.MkdirAll(filepath.Join(dir, "usr/lib/ssl/certs"), 0o755) // as libssl3 ships it, a directory
	if err := writeCABundle(dir); err != nil {
		t.Fatal(err)
	}
	bundle, err := os.ReadFile(filepath.Join(dir, caBundle))
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for rest := bundle; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		subjects = append(subjects, c.Subject.CommonName)
	}
	if got := strings.Join(subjects, ","); got != "Root A,Root B" {
		t.Errorf("bundle holds %q, want Root A,Root B in name order", got)
	}
	for link, want := range map[string]string{"usr/lib/ssl/cert.pem": "/" + caBundle, "usr/lib/ssl/certs": "/etc/ssl/certs"} {
		if got, err := os.Readlink(filepath.Join(dir, link)); err != nil || got != want {
			t.Errorf("%s -> %q (%v), want %q", link, got, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, caSourceDir)); !os.IsNotExist(err) {
		t.Errorf("%s still there (%v): the bundle holds the certificates", caSourceDir, err)
	}

	if err := writeCABundle(t.TempDir()); err == nil || !strings.Contains(err.Error(), "ca-certificates") {
		t.Errorf("empty tree: %v, want an error naming ca-certificates", err)
	}
}
