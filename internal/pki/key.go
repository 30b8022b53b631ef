package pki

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// ParseKey is the one reader of private keys, for the cluster configuration (checked on the
// host by imagebuild and again on the node) and for the keys on the data volume. It takes one
// unencrypted PEM private key: PKCS#8 "PRIVATE KEY" (ECDSA, RSA, Ed25519), SEC 1 "EC PRIVATE
// KEY" or PKCS#1 "RSA PRIVATE KEY". "EC PARAMETERS" blocks, which openssl ecparam -genkey
// writes before the key, are skipped. Anything else is an error saying what to give instead:
// text around the PEM (a file name or base64 pasted by mistake), encrypted keys, other PEM
// blocks, several keys. The messages read after a field or file name ("tls.ca_key: …").
func ParseKey(keyPEM []byte) (crypto.Signer, error) {
	var keys []*pem.Block
	var other []string // types of other blocks
	for rest, n := keyPEM, 0; len(bytes.TrimSpace(rest)) > 0; n++ {
		b, r := pem.Decode(rest)
		switch {
		case b == nil && n == 0:
			return nil, errors.New("no PEM private key found: expected the key's text itself, starting with -----BEGIN PRIVATE KEY----- (not a file name or base64 of it)")
		case b == nil:
			return nil, errors.New("has text after the last PEM block: give only the key's PEM text")
		case !bytes.HasPrefix(bytes.TrimSpace(rest), []byte("-----BEGIN ")):
			return nil, errors.New("has text before or between its PEM blocks: give only the key's PEM text")
		}
		rest = r
		switch b.Type {
		case "EC PARAMETERS":
		case "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
			keys = append(keys, b)
		default:
			other = append(other, b.Type)
		}
	}
	switch {
	case len(other) > 0 && other[0] == "CERTIFICATE":
		return nil, errors.New(`holds a PEM "CERTIFICATE" block, not a private key: are the certificate and the key swapped?`)
	case len(other) > 0:
		return nil, fmt.Errorf("holds a PEM %q block: expected one PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY block", other[0])
	case len(keys) > 1:
		return nil, fmt.Errorf("holds %d private keys: give exactly one", len(keys))
	case len(keys) == 0: // nothing but whitespace, or only EC PARAMETERS
		return nil, errors.New("no PEM private key found: expected the key's text itself, starting with -----BEGIN PRIVATE KEY----- (not a file name or base64 of it)")
	}
	b := keys[0]
	if b.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED") {
		return nil, errors.New("the key is encrypted and a booting node cannot ask for a passphrase: give it unencrypted (openssl pkey -in KEY)")
	}
	var key any
	var err error
	switch b.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	}
	if err != nil {
		if strings.Contains(err.Error(), "unknown elliptic curve") {
			return nil, fmt.Errorf("invalid %s: the curve is not P-224, P-256, P-384 or P-521, or is given by explicit parameters: make the key with openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256", b.Type)
		}
		return nil, fmt.Errorf("invalid %s: %w", b.Type, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("holds a %T, which cannot sign certificates: give an ECDSA, RSA or Ed25519 key", key)
	}
	return signer, nil
}
