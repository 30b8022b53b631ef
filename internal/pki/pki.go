// Package pki makes the TLS material of an etcd member from the cluster CA: the CA itself
// when a single node starts without one, server and peer certificates for the member,
// client certificates for operators, and the checks that decide when to renew them.
//
// Everything here is a pure function of its inputs and of the time passed in, so that the
// node agent decides what "now" is (and tests can pick any moment).
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

const (
	// clockSkew backdates NotBefore, so that a certificate made on a node whose clock runs a
	// little ahead is already valid on its peers.
	clockSkew = time.Hour
	caYears   = 10
	dateFmt   = "2006-01-02"
)

// CA is the cluster CA as far as a node needs it: the certificate it signs with, the PEM it
// was loaded from and its private key.
type CA struct {
	// Cert is the certificate whose key signs new certificates.
	Cert *x509.Certificate
	// CertPEM is the CA PEM as given, every certificate in it. It is what etcd's
	// --trusted-ca-file and client bundles must trust: during a CA rotation it holds the old
	// and the new CA, and members signed by either must keep talking.
	CertPEM []byte
	signer  crypto.Signer
}

// NewCA makes a self-signed ECDSA P-256 CA valid for 10 years, for a cluster that was given
// no CA. It may sign only leaf certificates (path length zero).
func NewCA(commonName string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := NewKey()
	if err != nil {
		return nil, nil, err
	}
	tmpl, err := caTemplate(pkix.Name{CommonName: commonName}, now)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CA certificate: %w", err)
	}
	keyPEM, err = EncodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pemCert(der), keyPEM, nil
}

// RenewCA re-signs the CA certificate that keyPEM belongs to for another caYears from now:
// the same subject and key (so the same subject key id), hence every certificate the old one
// signed verifies against the new one too. Only the validity and serial change.
func RenewCA(certPEM, keyPEM []byte, now time.Time) ([]byte, error) {
	ca, err := LoadCA(certPEM, keyPEM, now)
	if err != nil {
		return nil, err
	}
	tmpl, err := caTemplate(ca.Cert.Subject, now)
	if err != nil {
		return nil, err
	}
	tmpl.SubjectKeyId, tmpl.KeyUsage = ca.Cert.SubjectKeyId, ca.Cert.KeyUsage
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, ca.signer.Public(), ca.signer)
	if err != nil {
		return nil, fmt.Errorf("renew CA certificate: %w", err)
	}
	return pemCert(der), nil
}

// caTemplate is a self-signed CA certificate for subject valid caYears from now, which may
// sign only leaf certificates (path length zero).
func caTemplate(subject pkix.Name, now time.Time) (*x509.Certificate, error) {
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	return &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.AddDate(caYears, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		// SubjectKeyId is left empty: x509.CreateCertificate derives it from the key for CA
		// certificates, and copies it into the AuthorityKeyId of what the CA signs.
	}, nil
}

// LoadCA reads the CA certificate(s) and the CA key and checks that they can sign
// certificates at time now. When certPEM holds several certificates (a CA rotation), the one
// the key belongs to signs.
func LoadCA(certPEM, keyPEM []byte, now time.Time) (*CA, error) {
	certs, err := ParseCertificates(certPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	key, err := ParseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	var cert *x509.Certificate
	for _, c := range certs {
		if !c.BasicConstraintsValid || !c.IsCA {
			return nil, fmt.Errorf("certificate %q is not a CA certificate (basic constraints CA:TRUE missing): give the CA's certificate and key, not a node's", c.Subject)
		}
		if cert == nil && keyMatches(key, c) {
			cert = c
		}
	}
	switch {
	case cert == nil && len(certs) == 1:
		return nil, fmt.Errorf("CA key does not belong to the CA certificate %q: give the private key of that certificate", certs[0].Subject)
	case cert == nil:
		return nil, fmt.Errorf("CA key belongs to none of the %d CA certificates: give the private key of one of them", len(certs))
	case cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0:
		return nil, fmt.Errorf("CA certificate %q lacks key usage certSign: it cannot sign certificates", cert.Subject)
	case now.Before(cert.NotBefore):
		return nil, fmt.Errorf("CA certificate %q is not valid until %s: check the clock", cert.Subject, cert.NotBefore.UTC().Format(time.RFC3339))
	case !now.Before(cert.NotAfter):
		return nil, fmt.Errorf("CA certificate %q expired on %s: create a new CA and give it to every member", cert.Subject, cert.NotAfter.UTC().Format(dateFmt))
	}
	return &CA{Cert: cert, CertPEM: certPEM, signer: key}, nil
}

// NewKey makes the ECDSA P-256 key a member's certificates are issued for.
func NewKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ECDSA P-256 key: %w", err)
	}
	return key, nil
}

// EncodeKey writes key as an unencrypted PKCS#8 PEM "PRIVATE KEY", the form etcd reads for
// every key type.
func EncodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseCertificates reads every PEM certificate in data, in order. Text around the blocks
// (openssl x509 -text output) is ignored; a PEM block of another type is an error.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is a %q, not a CERTIFICATE: are the certificate and the key swapped?", len(certs)+1, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d is not a valid X.509 certificate: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate found: expected text starting with -----BEGIN CERTIFICATE-----")
	}
	return certs, nil
}

// Fingerprint is "sha256:<hex>" of the first certificate in certPEM. The data volume records
// it, so that a volume is never joined to a cluster with another CA by mistake.
func Fingerprint(certPEM []byte) (string, error) {
	fps, err := Fingerprints(certPEM)
	if err != nil {
		return "", err
	}
	return fps[0], nil
}

// Fingerprints are Fingerprint's of every certificate in certPEM (a CA bundle).
func Fingerprints(certPEM []byte) ([]string, error) {
	certs, err := ParseCertificates(certPEM)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range certs {
		sum := sha256.Sum256(c.Raw)
		out = append(out, "sha256:"+hex.EncodeToString(sum[:]))
	}
	return out, nil
}

// keyMatches reports whether key is the private key of cert.
func keyMatches(key crypto.Signer, cert *x509.Certificate) bool {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(cert.PublicKey)
}

// newSerial is a random 128-bit serial number: unique without keeping a counter anywhere.
func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return n, nil
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
