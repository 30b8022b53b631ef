package node

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/x509"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/config"
	"github.com/etcd-appliance/appliance/internal/nodeconfig/nodetest"
	"github.com/etcd-appliance/appliance/internal/pki"
)

// untar reads a credentials tarball into name → contents.
func untar(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name], _ = io.ReadAll(tr)
	}
}

func TestClientCredentials(t *testing.T) {
	now := time.Now()
	cfgCert, cfgKey, ownCert, ownKey := twoCAs(t, now)
	indent := func(b []byte) string {
		return "    " + strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", "\n    ") + "\n"
	}
	for _, tc := range []struct {
		name     string
		userData string
		caPEM    []byte // the CA the client certificate must chain to
		wantErr  string
	}{
		{"single member's own CA", "", ownCert, ""},
		{"the configuration's CA", "version: 1\ntls:\n  ca_cert: |\n" + indent(cfgCert) + "  ca_key: |\n" + indent(cfgKey), cfgCert, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ud []byte
			if tc.userData != "" {
				ud = []byte(tc.userData)
			}
			env := nodetest.QemuEnv(t, "etcd.platform=qemu", ud)
			data := t.TempDir()
			os.MkdirAll(filepath.Join(data, "pki"), 0o755)
			os.WriteFile(filepath.Join(data, "pki/ca.crt"), ownCert, 0o644)
			os.WriteFile(filepath.Join(data, "pki/ca.key"), ownKey, 0o600)
			n := &Node{Paths: Paths{DataDir: data}, Env: env, Resolve: nodetest.Options(""), Now: time.Now}
			tarball, err := n.ClientCredentials(context.Background(), "ops")
			if err != nil {
				t.Fatal(err)
			}
			files := untar(t, tarball)
			certs, err := pki.ParseCertificates(files["ops/client.crt"])
			if err != nil {
				t.Fatalf("client.crt: %v (files %v)", err, len(files))
			}
			roots := x509.NewCertPool()
			roots.AppendCertsFromPEM(tc.caPEM)
			if _, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Errorf("client certificate does not verify against the expected CA: %v", err)
			}
			if certs[0].Subject.CommonName != "ops" || len(files["ops/client.key"]) == 0 || !bytes.Equal(files["ops/ca.crt"], tc.caPEM) {
				t.Errorf("bundle: CN %q, key %d bytes, ca.crt matches: %v", certs[0].Subject.CommonName, len(files["ops/client.key"]), bytes.Equal(files["ops/ca.crt"], tc.caPEM))
			}
		})
	}
	t.Run("no name", func(t *testing.T) {
		n := &Node{Paths: Paths{DataDir: t.TempDir()}, Env: nodetest.QemuEnv(t, "etcd.platform=qemu", nil), Resolve: nodetest.Options(""), Now: time.Now}
		_, err := n.ClientCredentials(context.Background(), "")
		if err == nil || !strings.Contains(err.Error(), "--name is required") {
			t.Errorf("err = %v", err)
		}
	})
}

// The CA that may issue client certificates on a node: the configuration's with its key, a
// single member's own on the data volume, none with pre-issued certificates.
func TestIssuingCA(t *testing.T) {
	now := time.Now()
	cfgCert, cfgKey, ownCert, ownKey := twoCAs(t, now)
	for _, tc := range []struct {
		name    string
		tls     config.TLS
		own     map[string][]byte // files in the volume's pki directory
		wantCA  []byte
		wantErr string
	}{
		{"the configuration's CA", config.TLS{CACert: string(cfgCert), CAKey: string(cfgKey)}, map[string][]byte{"ca.crt": ownCert, "ca.key": ownKey}, cfgCert, ""},
		{"a single member's own CA", config.TLS{}, map[string][]byte{"ca.crt": ownCert, "ca.key": ownKey}, ownCert, ""},
		{"pre-issued certificates", config.TLS{CACert: string(cfgCert)}, nil, nil, "no tls.ca_key (nodes use pre-issued certificates)"},
		{"own CA without its key", config.TLS{}, map[string][]byte{"ca.crt": ownCert}, nil, "the cluster CA: open"},
		{"no CA at all", config.TLS{}, nil, nil, "the cluster CA: open"},
		{"own key of another CA", config.TLS{}, map[string][]byte{"ca.crt": ownCert, "ca.key": cfgKey}, nil, "the cluster CA:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, b := range tc.own {
				os.WriteFile(filepath.Join(dir, name), b, 0o600)
			}
			ca, err := issuingCA(tc.tls, newPKIFiles(dir), now)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ca.CertPEM, tc.wantCA) {
				t.Error("issues from the wrong CA")
			}
		})
	}
}

// twoCAs are a configuration's CA and a single member's own, certificate and key each.
func twoCAs(t *testing.T, now time.Time) (cfgCert, cfgKey, ownCert, ownKey []byte) {
	t.Helper()
	var err error
	if cfgCert, cfgKey, err = pki.NewCA("config CA", now); err != nil {
		t.Fatal(err)
	}
	if ownCert, ownKey, err = pki.NewCA("own CA", now); err != nil {
		t.Fatal(err)
	}
	return cfgCert, cfgKey, ownCert, ownKey
}
