package image

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Signer signs a build: the UKI for UEFI Secure Boot (Authenticode, with sbsign) and
// SHA256SUMS (a detached signature openssl verifies). One RSA key pair does both: the
// certificate a user enrols in the firmware's db is also the one that proves the release.
type Signer struct {
	KeyPath, CertPath string
	key               *rsa.PrivateKey
	cert              *x509.Certificate
}

// Names of the files beside SHA256SUMS when a build is signed.
const (
	SumsSigName = "SHA256SUMS.sig" // RSA PKCS#1 v1.5 signature over SHA256SUMS's SHA-256
	SumsPubName = "SHA256SUMS.pub" // the certificate's public key, PEM SubjectPublicKeyInfo
)

// minRSABits is the smallest key accepted: UEFI db keys are RSA-2048 (firmware must verify
// those; many verify 3072 and 4096 too).
const minRSABits = 2048

// LoadSigner reads and checks --signing-key and --signing-cert: both or neither (nil, nil), an
// unencrypted RSA private key, an X.509 certificate, and the key the certificate is for. Every
// error names the flag, the file and what to do.
func LoadSigner(keyPath, certPath string) (*Signer, error) {
	switch {
	case keyPath == "" && certPath == "":
		return nil, nil
	case certPath == "":
		return nil, errors.New("--signing-key needs --signing-cert: give the key's X.509 certificate (PEM) too, or neither to build unsigned")
	case keyPath == "":
		return nil, errors.New("--signing-cert needs --signing-key: give the certificate's private key (PEM) too, or neither to build unsigned")
	}
	key, err := readSigningKey(keyPath)
	if err != nil {
		return nil, err
	}
	cert, err := readSigningCert(certPath)
	if err != nil {
		return nil, err
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, fmt.Errorf("--signing-key %s does not belong to --signing-cert %s (their public keys differ): give the key the certificate was issued for", keyPath, certPath)
	}
	return &Signer{KeyPath: keyPath, CertPath: certPath, key: key, cert: cert}, nil
}

func readSigningKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--signing-key: %w: give a readable PEM private key file", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("--signing-key %s: no PEM block: give the key in PEM (DER converts with 'openssl pkey -inform DER -in %s -out key.pem')", path, path)
	}
	if blk.Type == "ENCRYPTED PRIVATE KEY" || blk.Headers["Proc-Type"] == "4,ENCRYPTED" {
		return nil, fmt.Errorf("--signing-key %s is encrypted: decrypt it first with 'openssl pkcs8 -in %s -out key.pem' (or 'openssl rsa' for a traditional RSA key) and give key.pem, kept somewhere private", path, path)
	}
	var key any
	switch blk.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("--signing-key %s: a PEM %q block, not a private key: give the private key file (BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY)", path, blk.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("--signing-key %s: %w: give an unencrypted RSA private key in PEM", path, err)
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("--signing-key %s holds an %s key: UEFI Secure Boot verifies RSA signatures; make an RSA key of %d bits or more (openssl req -new -x509 -newkey rsa:2048 -nodes …)", path, keyKind(key), minRSABits)
	}
	if n := rk.N.BitLen(); n < minRSABits {
		return nil, fmt.Errorf("--signing-key %s is RSA-%d: UEFI db keys are RSA-%d or more; make a larger key", path, n, minRSABits)
	}
	return rk, nil
}

func keyKind(key any) string {
	switch key.(type) {
	case *ecdsa.PrivateKey, *ecdh.PrivateKey:
		return "EC"
	case ed25519.PrivateKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", key)
}

func readSigningCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--signing-cert: %w: give a readable PEM certificate file", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("--signing-cert %s: no PEM CERTIFICATE block: give the X.509 certificate in PEM (DER converts with 'openssl x509 -inform DER -in %s -out cert.pem')", path, path)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("--signing-cert %s: %w: give a valid X.509 certificate", path, err)
	}
	return cert, nil
}

// CertSHA256 is the SHA-256 of the certificate (DER), as 'openssl x509 -fingerprint -sha256'
// prints it without the colons.
func (s *Signer) CertSHA256() [32]byte { return sha256.Sum256(s.cert.Raw) }

// signEFI signs the PE binary in for UEFI Secure Boot into out, with sbsign. sbsign's
// signature carries the time of signing (OpenSSL adds a PKCS#9 signingTime to the signed
// attributes), which would make every build differ; signingTime is set to epoch afterwards
// and the attributes signed again, so the same input, key and epoch give the same file.
func (s *Signer) signEFI(ctx context.Context, in, out string, epoch int64) error {
	cmd := exec.CommandContext(ctx, "sbsign", "--key", s.KeyPath, "--cert", s.CertPath, "--output", out, in)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("sbsign signing %s: %w\n%s", filepath.Base(in), err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return err
	}
	if err := s.fixSigningTime(b, time.Unix(epoch, 0)); err != nil {
		return fmt.Errorf("%s: %w", out, err)
	}
	return os.WriteFile(out, b, 0o644)
}

// OIDs in an Authenticode signature.
var (
	oidSignedData  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidSigningTime = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidSHA256      = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
)

// fixSigningTime sets the signingTime of the signed PE file b (in place) to t and signs the
// signer's attributes again: same lengths, so nothing moves. The PE checksum is recomputed;
// the Authenticode hash leaves it and the certificate table out, so the signature holds.
func (s *Signer) fixSigningTime(b []byte, t time.Time) error {
	p7, err := peCertificate(b)
	if err != nil {
		return err
	}
	si, err := signerInfo(p7)
	if err != nil {
		return fmt.Errorf("reading sbsign's signature: %w", err)
	}
	// SignerInfo: version, issuerAndSerialNumber, digestAlgorithm, [0] authenticatedAttributes,
	// digestEncryptionAlgorithm, encryptedDigest
	if len(si) < 6 || si[3].tag != 0xa0 || si[5].tag != 0x04 {
		return errors.New("reading sbsign's signature: no signed attributes")
	}
	var alg struct{ Algorithm asn1.ObjectIdentifier }
	if _, err := asn1.Unmarshal(si[2].full, &alg); err != nil || !alg.Algorithm.Equal(oidSHA256) {
		return fmt.Errorf("sbsign's signature does not use SHA-256 (digest algorithm %v)", alg.Algorithm)
	}
	attrs, err := children(si[3].content)
	if err != nil {
		return err
	}
	var when []byte
	for _, a := range attrs {
		kv, err := children(a.content)
		if err != nil || len(kv) != 2 {
			continue
		}
		var oid asn1.ObjectIdentifier
		if _, err := asn1.Unmarshal(kv[0].full, &oid); err != nil || !oid.Equal(oidSigningTime) {
			continue
		}
		v, err := children(kv[1].content)
		if err != nil || len(v) != 1 || v[0].tag != 0x17 { // UTCTime
			return errors.New("sbsign's signingTime is not a UTCTime")
		}
		when = v[0].content
	}
	if when == nil {
		return nil // nothing time-dependent to fix
	}
	utc := t.UTC()
	if utc.Year() < 1950 || utc.Year() > 2049 {
		return fmt.Errorf("SOURCE_DATE_EPOCH %d is outside a UTCTime's years 1950-2049", t.Unix())
	}
	ts := utc.Format("060102150405Z")
	if len(ts) != len(when) {
		return fmt.Errorf("sbsign's signingTime %q is not in the form YYMMDDhhmmssZ", when)
	}
	copy(when, ts)
	// The signature covers the attributes encoded as a SET (tag 0x31), not as the [0] they are
	// stored as.
	signed := bytes.Clone(si[3].full)
	signed[0] = 0x31
	digest := sha256.Sum256(signed)
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, digest[:])
	if err != nil {
		return err
	}
	if len(sig) != len(si[5].content) {
		return fmt.Errorf("the new signature is %d bytes, sbsign's %d", len(sig), len(si[5].content))
	}
	copy(si[5].content, sig)
	sumOff, err := peChecksumOffset(b)
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(b[sumOff:], peChecksum(b, sumOff))
	return nil
}

// peChecksumOffset is where the optional header's CheckSum is.
func peChecksumOffset(b []byte) (int, error) {
	if len(b) < 0x40 || string(b[:2]) != "MZ" {
		return 0, errors.New("not a PE file")
	}
	peOff := int(binary.LittleEndian.Uint32(b[0x3c:]))
	sumOff := peOff + 4 + 20 + 64
	if peOff < 0 || len(b) < sumOff+4 || string(b[peOff:peOff+4]) != "PE\x00\x00" {
		return 0, errors.New("no PE header")
	}
	return sumOff, nil
}

// peCertificate is the PKCS#7 SignedData of the first WIN_CERTIFICATE in the PE file b's
// certificate table (data directory 4), a slice of b.
func peCertificate(b []byte) ([]byte, error) {
	sumOff, err := peChecksumOffset(b)
	if err != nil {
		return nil, err
	}
	opt := sumOff - 64
	var dirs int
	switch binary.LittleEndian.Uint16(b[opt:]) {
	case 0x20b: // PE32+
		dirs = opt + 112
	case 0x10b: // PE32
		dirs = opt + 96
	default:
		return nil, errors.New("unknown PE optional header")
	}
	if len(b) < dirs+5*8 || binary.LittleEndian.Uint32(b[dirs-4:]) < 5 {
		return nil, errors.New("no certificate table")
	}
	off := int(binary.LittleEndian.Uint32(b[dirs+4*8:]))
	size := int(binary.LittleEndian.Uint32(b[dirs+4*8+4:]))
	if size < 8 || off < 0 || off+size > len(b) {
		return nil, errors.New("not signed: no certificate table")
	}
	// WIN_CERTIFICATE: dwLength, wRevision, wCertificateType (2: PKCS#7 SignedData)
	n := int(binary.LittleEndian.Uint32(b[off:]))
	if binary.LittleEndian.Uint16(b[off+6:]) != 2 || n < 8 || n > size {
		return nil, errors.New("the certificate table holds no PKCS#7 signature")
	}
	return b[off+8 : off+n], nil
}

// signerInfo is the fields of the first SignerInfo of the PKCS#7 ContentInfo p7.
func signerInfo(p7 []byte) ([]der, error) {
	top, err := children(p7)
	if err != nil {
		return nil, err
	}
	ci, err := top.one(0x30)
	if err != nil {
		return nil, err
	}
	f, err := children(ci.content) // contentType, [0] content
	if err != nil {
		return nil, err
	}
	var oid asn1.ObjectIdentifier
	if len(f) != 2 || f[1].tag != 0xa0 {
		return nil, errors.New("not a PKCS#7 ContentInfo")
	}
	if _, err := asn1.Unmarshal(f[0].full, &oid); err != nil || !oid.Equal(oidSignedData) {
		return nil, errors.New("not PKCS#7 SignedData")
	}
	inner, err := children(f[1].content)
	if err != nil {
		return nil, err
	}
	sd, err := inner.one(0x30)
	if err != nil {
		return nil, err
	}
	fields, err := children(sd.content) // version, digestAlgorithms, contentInfo, [0] certificates, [1] crls, signerInfos
	if err != nil {
		return nil, err
	}
	if len(fields) < 4 || fields[len(fields)-1].tag != 0x31 {
		return nil, errors.New("SignedData without signerInfos")
	}
	sis, err := children(fields[len(fields)-1].content)
	if err != nil {
		return nil, err
	}
	if len(sis) != 1 || sis[0].tag != 0x30 {
		return nil, fmt.Errorf("%d signers, want 1", len(sis))
	}
	return children(sis[0].content)
}

// der is one DER element: its tag (one byte: the forms PKCS#7 uses), its whole encoding and
// its content, both slices of the input so they can be changed in place.
type der struct {
	tag           byte
	full, content []byte
}

type ders []der

func (d ders) one(tag byte) (der, error) {
	if len(d) != 1 || d[0].tag != tag {
		return der{}, fmt.Errorf("want one element with tag %#x", tag)
	}
	return d[0], nil
}

// children splits b into its DER elements (definite lengths only, as DER has).
func children(b []byte) (ders, error) {
	var out ders
	for len(b) > 0 {
		if len(b) < 2 || b[0]&0x1f == 0x1f {
			return nil, errors.New("bad DER")
		}
		hl, n := 2, int(b[1])
		if b[1]&0x80 != 0 {
			k := int(b[1] & 0x7f)
			if k == 0 || k > 4 || len(b) < 2+k {
				return nil, errors.New("bad DER length")
			}
			n = 0
			for _, c := range b[2 : 2+k] {
				n = n<<8 | int(c)
			}
			hl += k
		}
		if n < 0 || hl+n > len(b) {
			return nil, errors.New("DER element past its end")
		}
		out = append(out, der{tag: b[0], full: b[:hl+n], content: b[hl : hl+n]})
		b = b[hl+n:]
	}
	return out, nil
}

// signSums writes SHA256SUMS.sig, the signature over SHA256SUMS in dir that
// 'openssl dgst -sha256 -verify SHA256SUMS.pub -signature SHA256SUMS.sig SHA256SUMS' checks,
// and SHA256SUMS.pub, the public key. RSA PKCS#1 v1.5 signatures are deterministic.
func (s *Signer) signSums(dir string) error {
	sums, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		return err
	}
	digest := sha256.Sum256(sums)
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, digest[:])
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&s.key.PublicKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, SumsSigName), sig, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, SumsPubName), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644)
}

// removeSumsSignature removes a signature an earlier, signed build left in dir: it would not
// match this build's SHA256SUMS.
func removeSumsSignature(dir string) error {
	for _, n := range []string{SumsSigName, SumsPubName} {
		if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}
