package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"strings"
	"testing"
)

func TestParseKey(t *testing.T) {
	const cert = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"
	tests := []struct {
		name string
		pem  string
		// for a key: its type and the sha256 of its public key as openssl pkey -pubout
		// -outform DER | sha256sum prints it
		wantType, wantPub string
		wantErr           string
	}{
		{name: "openssl ecparam -genkey: EC PARAMETERS, then SEC 1", pem: opensslECParam,
			wantType: "*ecdsa.PrivateKey", wantPub: "cb45cac06eda9b41b78951b35281f0e2d87b07badf46aa950e6152f77c5db38e"},
		{name: "openssl ecparam -genkey P-384", pem: opensslECParamP384,
			wantType: "*ecdsa.PrivateKey", wantPub: "ab91b74668bf2c5adb9615b6e4b5f643b28c19aac50f709bf6c8bae63adf99a0"},
		{name: "openssl genpkey EC: PKCS#8", pem: opensslGenpkeyEC,
			wantType: "*ecdsa.PrivateKey", wantPub: "ef17f69d8a9efd5118022326b2f43788a4f8e87fc76fcb6e3559469e596d9ebe"},
		{name: "openssl genrsa -traditional: PKCS#1", pem: opensslRSAPKCS1,
			wantType: "*rsa.PrivateKey", wantPub: "3ef2d7d3de466c1111403c28f3ceaed5a1754f72472a85f2e637f41f9124a20b"},
		{name: "openssl genpkey RSA: PKCS#8", pem: opensslRSAPKCS8,
			wantType: "*rsa.PrivateKey", wantPub: "ac6d92849e7606d9174abfb15db59aa0f8d21f8eadc874218197bfafa85a31e3"},
		{name: "openssl genpkey ED25519: PKCS#8", pem: opensslEd25519,
			wantType: "ed25519.PrivateKey", wantPub: "c48dd6f8bc9905c763d7a6040cb782840c50ea168e249ecdbe666507b228264d"},
		{name: "surrounding whitespace", pem: "\n\n" + opensslGenpkeyEC + "  \n\t\n",
			wantType: "*ecdsa.PrivateKey", wantPub: "ef17f69d8a9efd5118022326b2f43788a4f8e87fc76fcb6e3559469e596d9ebe"},
		{name: "CRLF line ends", pem: strings.ReplaceAll(opensslECParam, "\n", "\r\n"),
			wantType: "*ecdsa.PrivateKey", wantPub: "cb45cac06eda9b41b78951b35281f0e2d87b07badf46aa950e6152f77c5db38e"},

		{name: "empty", pem: "", wantErr: "no PEM private key found"},
		{name: "file name", pem: "/etc/etcd/ca.key", wantErr: "no PEM private key found: expected the key's text itself"},
		{name: "base64 of the PEM", pem: "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCg==", wantErr: "no PEM private key found"},
		{name: "EC PARAMETERS only", pem: "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n", wantErr: "no PEM private key found"},
		{name: "text before", pem: "ca.key:\n" + opensslGenpkeyEC, wantErr: "has text before or between its PEM blocks"},
		{name: "text between", pem: strings.Replace(opensslECParam, "-----\n-----BEGIN EC PRIVATE", "-----\nkey:\n-----BEGIN EC PRIVATE", 1), wantErr: "has text before or between its PEM blocks"},
		{name: "text after", pem: opensslGenpkeyEC + "ca.crt\n", wantErr: "has text after the last PEM block"},
		{name: "truncated", pem: opensslGenpkeyEC[:len(opensslGenpkeyEC)-10], wantErr: "no PEM private key found"},
		{name: "two keys", pem: opensslGenpkeyEC + opensslEd25519, wantErr: "holds 2 private keys: give exactly one"},
		{name: "a certificate", pem: cert, wantErr: "not a private key: are the certificate and the key swapped?"},
		{name: "key and certificate", pem: opensslGenpkeyEC + cert, wantErr: `holds a PEM "CERTIFICATE" block`},
		{name: "public key", pem: "-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n", wantErr: `holds a PEM "PUBLIC KEY" block: expected one PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY block`},
		{name: "encrypted PKCS#8", pem: opensslPKCS8Encrypted, wantErr: "the key is encrypted and a booting node cannot ask for a passphrase"},
		{name: "encrypted SEC 1 (Proc-Type)", pem: opensslECEncrypted, wantErr: "the key is encrypted"},
		{name: "corrupt SEC 1", pem: "-----BEGIN EC PRIVATE KEY-----\nAQID\n-----END EC PRIVATE KEY-----\n", wantErr: "invalid EC PRIVATE KEY: x509:"},
		{name: "PKCS#8 labelled RSA", pem: strings.ReplaceAll(opensslRSAPKCS8, "PRIVATE KEY", "RSA PRIVATE KEY"), wantErr: "invalid RSA PRIVATE KEY"},
		{name: "explicit curve parameters", pem: opensslECParamExplicit, wantErr: "invalid EC PRIVATE KEY: the curve is not P-224, P-256, P-384 or P-521, or is given by explicit parameters"},
		{name: "secp256k1", pem: opensslSecp256k1, wantErr: "the curve is not P-224, P-256, P-384 or P-521"},
		{name: "X25519 cannot sign", pem: opensslX25519, wantErr: "cannot sign certificates: give an ECDSA, RSA or Ed25519 key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := ParseKey([]byte(tt.pem))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var typ string
			switch key.(type) {
			case *ecdsa.PrivateKey:
				typ = "*ecdsa.PrivateKey"
			case *rsa.PrivateKey:
				typ = "*rsa.PrivateKey"
			case ed25519.PrivateKey:
				typ = "ed25519.PrivateKey"
			}
			if typ != tt.wantType {
				t.Errorf("key is a %T, want %s", key, tt.wantType)
			}
			der, err := x509.MarshalPKIXPublicKey(key.Public())
			if err != nil {
				t.Fatal(err)
			}
			if sum := sha256.Sum256(der); hex.EncodeToString(sum[:]) != tt.wantPub {
				t.Errorf("public key hashes to %x, want %s (openssl's)", sum, tt.wantPub)
			}
		})
	}
}

// TestParseKeyRoundTrip: what EncodeKey writes (the data volume's keys), ParseKey reads.
func TestParseKeyRoundTrip(t *testing.T) {
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, err := EncodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseKey(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	if !key.Equal(got) {
		t.Error("ParseKey(EncodeKey(key)) is another key")
	}
}

// FuzzParseKey checks that ParseKey never panics, explains every refusal, and that a key it
// accepts survives EncodeKey (the form written to the data volume) unchanged.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{opensslECParam, opensslGenpkeyEC, opensslRSAPKCS1, opensslEd25519,
		opensslECEncrypted, opensslPKCS8Encrypted, opensslX25519, opensslECParamExplicit, "", "x\n-----BEGIN PRIVATE KEY-----\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := ParseKey(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		enc, err := EncodeKey(key)
		if err != nil {
			t.Fatalf("accepted key does not encode: %v", err)
		}
		again, err := ParseKey(enc)
		if err != nil {
			t.Fatalf("accepted key does not parse after EncodeKey: %v", err)
		}
		if k, ok := key.(interface{ Equal(crypto.PrivateKey) bool }); !ok || !k.Equal(again) {
			t.Fatalf("round trip changed the %T", key)
		}
	})
}
