package image

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testKeys are made once: RSA key generation is the slow part of these tests.
var testKeys = sync.OnceValues(func() ([]*rsa.PrivateKey, error) {
	var keys []*rsa.PrivateKey
	for range 2 {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
})

// writeTestPair writes the i'th test key (PKCS#8) and a self-signed certificate for it into
// dir as name.key and name.crt.
func writeTestPair(t *testing.T, dir, name string, i int) (keyPath, certPath string) {
	t.Helper()
	keys, err := testKeys()
	if err != nil {
		t.Fatal(err)
	}
	return writeKeyCert(t, dir, name, keys[i])
}

func writeKeyCert(t *testing.T, dir, name string, key crypto.Signer) (keyPath, certPath string) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPath = filepath.Join(dir, name+".key")
	writePEM(t, keyPath, "PRIVATE KEY", der)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "etcd appliance test " + name},
		NotBefore: time.Unix(1700000000, 0), NotAfter: time.Unix(1700000000, 0).AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	pub := key.Public()
	cert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	certPath = filepath.Join(dir, name+".crt")
	writePEM(t, certPath, "CERTIFICATE", cert)
	return keyPath, certPath
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (scripts/host-deps.sh installs it)", tool)
		}
	}
}

func TestLoadSigner(t *testing.T) {
	dir := t.TempDir()
	key, cert := writeTestPair(t, dir, "a", 0)
	_, otherCert := writeTestPair(t, dir, "b", 1)

	keys, _ := testKeys()
	pkcs1 := filepath.Join(dir, "pkcs1.key")
	writePEM(t, pkcs1, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(keys[0]))
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecKeyPath, ecCert := writeKeyCert(t, dir, "ec", ecKey)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallKey, smallCert := writeKeyCert(t, dir, "small", small)
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte("not PEM at all\n"), 0o600)
	missing := filepath.Join(dir, "missing.key")
	// an encrypted key as openssl writes it, and one as the PEM type alone says
	encrypted := filepath.Join(dir, "enc.key")
	if _, err := exec.LookPath("openssl"); err == nil {
		if b, err := exec.Command("openssl", "pkcs8", "-topk8", "-in", key, "-passout", "pass:secret", "-out", encrypted).CombinedOutput(); err != nil {
			t.Fatalf("openssl pkcs8: %v\n%s", err, b)
		}
	} else {
		writePEM(t, encrypted, "ENCRYPTED PRIVATE KEY", []byte{0x30, 0})
	}

	for _, tc := range []struct {
		name, key, cert string
		want            []string // substrings of the error; none: accepted
	}{
		{"neither: unsigned", "", "", nil},
		{"PKCS#8 key", key, cert, nil},
		{"PKCS#1 key", pkcs1, cert, nil},
		{"key without cert", key, "", []string{"--signing-key needs --signing-cert"}},
		{"cert without key", "", cert, []string{"--signing-cert needs --signing-key"}},
		{"unreadable key", missing, cert, []string{"--signing-key", missing, "no such file", "readable PEM private key"}},
		{"unreadable cert", key, missing, []string{"--signing-cert", missing, "no such file", "readable PEM certificate"}},
		{"encrypted key", encrypted, cert, []string{"--signing-key " + encrypted + " is encrypted", "openssl pkcs8 -in " + encrypted + " -out key.pem"}},
		{"key and cert of different pairs", key, otherCert, []string{"--signing-key " + key + " does not belong to --signing-cert " + otherCert}},
		{"not PEM", garbage, cert, []string{"--signing-key " + garbage + ": no PEM block"}},
		{"cert as key", cert, cert, []string{"--signing-key " + cert, `"CERTIFICATE" block, not a private key`}},
		{"key as cert", key, key, []string{"--signing-cert " + key, "no PEM CERTIFICATE block"}},
		{"EC key", ecKeyPath, ecCert, []string{"holds an EC key", "RSA"}},
		{"RSA-1024", smallKey, smallCert, []string{"is RSA-1024", "RSA-2048"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := LoadSigner(tc.key, tc.cert)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if (s == nil) != (tc.key == "") {
					t.Fatalf("signer %v for key %q", s, tc.key)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// testPE is a small PE32+ EFI application: headers and one .text section, enough for sbsign.
func testPE() []byte {
	b := make([]byte, 0x400)
	le := binary.LittleEndian
	copy(b, "MZ")
	le.PutUint32(b[0x3c:], 0x80)
	copy(b[0x80:], "PE\x00\x00")
	coff := b[0x84:]
	le.PutUint16(coff[0:], 0x8664) // x86-64
	le.PutUint16(coff[2:], 1)      // sections
	le.PutUint16(coff[16:], 240)   // optional header size
	le.PutUint16(coff[18:], 0x22)  // executable, large address aware
	opt := b[0x98:]
	le.PutUint16(opt[0:], 0x20b)
	le.PutUint32(opt[4:], 0x200)   // size of code
	le.PutUint32(opt[16:], 0x1000) // entry point
	le.PutUint32(opt[20:], 0x1000) // base of code
	le.PutUint32(opt[32:], 0x1000) // section alignment
	le.PutUint32(opt[36:], 0x200)  // file alignment
	le.PutUint32(opt[56:], 0x2000) // size of image
	le.PutUint32(opt[60:], 0x200)  // size of headers
	le.PutUint16(opt[68:], 10)     // EFI application
	le.PutUint32(opt[108:], 16)    // data directories
	sec := b[0x98+240:]
	copy(sec, ".text")
	le.PutUint32(sec[8:], 0x200)       // virtual size
	le.PutUint32(sec[12:], 0x1000)     // virtual address
	le.PutUint32(sec[16:], 0x200)      // raw size
	le.PutUint32(sec[20:], 0x200)      // raw offset
	le.PutUint32(sec[36:], 0x60000020) // code, execute, read
	for i := 0x200; i < 0x400; i++ {
		b[i] = byte(i * 7)
	}
	return b
}

func TestSignEFI(t *testing.T) {
	needTools(t, "sbsign", "sbverify")
	dir := t.TempDir()
	key, cert := writeTestPair(t, dir, "a", 0)
	_, otherCert := writeTestPair(t, dir, "b", 1)
	s, err := LoadSigner(key, cert)
	if err != nil {
		t.Fatal(err)
	}
	unsigned := filepath.Join(dir, "uki.unsigned.efi")
	if err := os.WriteFile(unsigned, testPE(), 0o644); err != nil {
		t.Fatal(err)
	}
	epoch := int64(1735689600) // 2025-01-01
	signed := filepath.Join(dir, "uki.efi")
	if err := s.signEFI(context.Background(), unsigned, signed, epoch); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(signed)

	// sbsign stamps the time of signing; signEFI makes it the epoch, so signing again (a
	// second later) gives the same file
	time.Sleep(1100 * time.Millisecond)
	again := filepath.Join(dir, "again.efi")
	if err := s.signEFI(context.Background(), unsigned, again, epoch); err != nil {
		t.Fatal(err)
	}
	if b2, _ := os.ReadFile(again); !bytes.Equal(b, b2) {
		t.Error("signing the same file twice gave different files")
	}
	if !bytes.Contains(b, []byte("\x17\x0d250101000000Z")) {
		t.Error("the signature's signingTime is not the epoch, 250101000000Z")
	}
	sumOff, _ := peChecksumOffset(b)
	if got := binary.LittleEndian.Uint32(b[sumOff:]); got != peChecksum(b, sumOff) {
		t.Errorf("PE checksum %#x, want %#x", got, peChecksum(b, sumOff))
	}

	altered := filepath.Join(dir, "altered.efi")
	a := bytes.Clone(b)
	a[0x300] ^= 1 // in .text
	os.WriteFile(altered, a, 0o644)

	for _, tc := range []struct {
		name, file, cert string
		ok               bool
	}{
		{"signed", signed, cert, true},
		{"unsigned", unsigned, cert, false},
		{"altered after signing", altered, cert, false},
		{"another certificate", signed, otherCert, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command("sbverify", "--cert", tc.cert, tc.file).CombinedOutput()
			if (err == nil) != tc.ok {
				t.Errorf("sbverify --cert %s %s: %v, want ok=%v\n%s", filepath.Base(tc.cert), filepath.Base(tc.file), err, tc.ok, out)
			}
		})
	}
}

// Debian's snakeoil Secure Boot key (ovmf), as a key from elsewhere: encrypted, it is refused
// with the command that decrypts it; decrypted that way, it signs.
func TestSnakeoilKey(t *testing.T) {
	const encKey, cert = "/usr/share/ovmf/PkKek-1-snakeoil.key", "/usr/share/ovmf/PkKek-1-snakeoil.pem"
	if _, err := os.Stat(encKey); err != nil {
		t.Skipf("Debian's snakeoil key is not here (%v): install ovmf to run this test", err)
	}
	needTools(t, "openssl", "sbsign", "sbverify")
	if _, err := LoadSigner(encKey, cert); err == nil || !strings.Contains(err.Error(), "openssl pkcs8 -in "+encKey+" -out key.pem") {
		t.Fatalf("the encrypted snakeoil key: %v", err)
	}
	dir := t.TempDir()
	key := filepath.Join(dir, "key.pem")
	if b, err := exec.Command("openssl", "pkcs8", "-in", encKey, "-passin", "pass:snakeoil", "-out", key).CombinedOutput(); err != nil {
		t.Fatalf("openssl pkcs8: %v\n%s", err, b)
	}
	s, err := LoadSigner(key, cert)
	if err != nil {
		t.Fatal(err)
	}
	unsigned, signed := filepath.Join(dir, "x.efi"), filepath.Join(dir, "x.signed.efi")
	os.WriteFile(unsigned, testPE(), 0o644)
	if err := s.signEFI(context.Background(), unsigned, signed, 1735689600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sbverify", "--cert", cert, signed).CombinedOutput(); err != nil {
		t.Errorf("sbverify: %v\n%s", err, out)
	}
}

// SHA256SUMS.sig and SHA256SUMS.pub verify with the commands the README gives.
func TestSignSums(t *testing.T) {
	needTools(t, "openssl", "sha256sum")
	dir := t.TempDir()
	key, cert := writeTestPair(t, dir, "a", 0)
	s, err := LoadSigner(key, cert)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	img := filepath.Join(out, "etcd-appliance-test-amd64.raw")
	os.WriteFile(img, bytes.Repeat([]byte("disk"), 1000), 0o644)
	sum, _ := fileSHA256(img)
	sums := []byte(sum + "  " + filepath.Base(img) + "\n")
	os.WriteFile(filepath.Join(out, "SHA256SUMS"), sums, 0o644)
	if err := signManifest(out, s); err != nil {
		t.Fatal(err)
	}
	sig, _ := os.ReadFile(filepath.Join(out, SumsSigName))
	if err := s.signSums(out); err != nil {
		t.Fatal(err)
	}
	if sig2, _ := os.ReadFile(filepath.Join(out, SumsSigName)); !bytes.Equal(sig, sig2) {
		t.Error("signing SHA256SUMS twice gave different signatures")
	}
	// the public key is the certificate's, as a user would take it from the certificate
	fromCert, err := exec.Command("openssl", "x509", "-in", cert, "-pubkey", "-noout").Output()
	if err != nil {
		t.Fatal(err)
	}
	if pub, _ := os.ReadFile(filepath.Join(out, SumsPubName)); !bytes.Equal(pub, fromCert) {
		t.Errorf("SHA256SUMS.pub\n%s\nis not the certificate's public key\n%s", pub, fromCert)
	}

	run := func(t *testing.T, name string, args ...string) error {
		cmd := exec.Command(name, args...)
		cmd.Dir = out
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Logf("%s %s: %v\n%s", name, strings.Join(args, " "), err, b)
		}
		return err
	}
	imgBytes, _ := os.ReadFile(img)
	for _, tc := range []struct {
		name          string
		file          string
		content       []byte
		sigOK, sumsOK bool
	}{
		{"as built", "", nil, true, true},
		{"SHA256SUMS changed", "SHA256SUMS", append([]byte{sums[0] ^ 1}, sums[1:]...), false, false},
		{"image changed", filepath.Base(img), append(bytes.Clone(imgBytes[:100]), append([]byte{imgBytes[100] ^ 1}, imgBytes[101:]...)...), true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.file != "" {
				p := filepath.Join(out, tc.file)
				orig, _ := os.ReadFile(p)
				os.WriteFile(p, tc.content, 0o644)
				defer os.WriteFile(p, orig, 0o644)
			}
			err := run(t, "openssl", "dgst", "-sha256", "-verify", SumsPubName, "-signature", SumsSigName, "SHA256SUMS")
			if (err == nil) != tc.sigOK {
				t.Errorf("openssl dgst -verify: %v, want ok=%v", err, tc.sigOK)
			}
			err = run(t, "sha256sum", "-c", "SHA256SUMS")
			if (err == nil) != tc.sumsOK {
				t.Errorf("sha256sum -c: %v, want ok=%v", err, tc.sumsOK)
			}
		})
	}

	// an unsigned build into the same directory takes the old signature away
	if err := signManifest(out, nil); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{SumsSigName, SumsPubName} {
		if _, err := os.Stat(filepath.Join(out, n)); err == nil {
			t.Errorf("%s left behind by an unsigned build", n)
		}
	}
}

// A signed build is another build than the unsigned one, and than one signed with another
// certificate; the unsigned build's ID is what it was before signing existed.
func TestBuildIDSigned(t *testing.T) {
	dir := t.TempDir()
	o := Options{Version: "v1", Epoch: 1700000000, EtcdVersion: "v3.7.3"}
	lock := []byte("lock\n")
	var ids []string
	for i, name := range []string{"a", "b"} {
		s, err := LoadSigner(writeTestPair(t, dir, name, i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, buildID(o, lock, s))
	}
	unsigned := buildID(o, lock, nil)
	if unsigned != "ea9fdef3bd979f27" {
		t.Errorf("unsigned build ID %s, was ea9fdef3bd979f27", unsigned)
	}
	if ids[0] == unsigned || ids[1] == unsigned || ids[0] == ids[1] {
		t.Errorf("build IDs unsigned %s, signed by a %s, by b %s: want three different", unsigned, ids[0], ids[1])
	}
	// the same version built from another source tree is another build
	o.SourceID = "s1"
	s1 := buildID(o, lock, nil)
	o.SourceID = "s2"
	if s1 == unsigned || s1 == buildID(o, lock, nil) {
		t.Errorf("build IDs without a source ID %s, source s1 %s, source s2 %s: want three different", unsigned, s1, buildID(o, lock, nil))
	}
}
