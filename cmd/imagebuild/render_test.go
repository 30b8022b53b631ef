package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/config"
	"github.com/etcd-appliance/appliance/internal/pki"
)

func TestRenderPerNode(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	caDir := filepath.Join(dir, "ca")
	if err := caInit(caDir, now); err != nil {
		t.Fatal(err)
	}
	shared := filepath.Join(dir, "cluster.yaml")
	os.WriteFile(shared, []byte(`version: 1
# the shared document: no tls section needed
cluster:
  name: prod
  members:
    - {name: etcd-a, address: 192.0.2.10}
    - {name: etcd-b, address: etcd-b.example}
network: {metrics_from: [192.0.2.99]}
`), 0o600)
	outDir := filepath.Join(dir, "out")
	var out bytes.Buffer
	if err := runConfig([]string{"render", "--ca", caDir, "--out", outDir, shared}, nil, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	caKey, _ := os.ReadFile(filepath.Join(caDir, "ca.key"))
	for _, m := range []struct{ name, addr string }{{"etcd-a", "192.0.2.10"}, {"etcd-b", "etcd-b.example"}} {
		path := filepath.Join(outDir, m.name+".yaml")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600 (it holds the node key)", path, fi.Mode().Perm())
		}
		if bytes.Contains(data, bytes.TrimSpace(caKey)[30:90]) || strings.Contains(string(data), "ca_key") {
			t.Errorf("%s holds the CA key", path)
		}
		cfg, _, _, err := config.Check(data, now)
		if err != nil {
			t.Fatalf("%s refused: %v", path, err)
		}
		if cfg.Node.Name != m.name || cfg.TLS.CAKey != "" || cfg.TLS.NodeKey == "" || len(cfg.Network.MetricsFrom) != 1 {
			t.Errorf("%s: node %q, ca_key %d bytes, node_key %d bytes, metrics_from %v", path, cfg.Node.Name, len(cfg.TLS.CAKey), len(cfg.TLS.NodeKey), cfg.Network.MetricsFrom)
		}
		certs, err := pki.ParseCertificates([]byte(cfg.TLS.NodeCert))
		if err != nil {
			t.Fatal(err)
		}
		c := certs[0]
		if c.Subject.CommonName != pki.PeerCN || c.VerifyHostname(m.addr) != nil || c.VerifyHostname("127.0.0.1") != nil {
			t.Errorf("%s: certificate CN %q, names %v %v: want %s naming %s and 127.0.0.1", path, c.Subject.CommonName, c.DNSNames, c.IPAddresses, pki.PeerCN, m.addr)
		}
	}
	if !strings.Contains(out.String(), "etcd-a.yaml: member etcd-a at 192.0.2.10, its own certificate and key, no CA key") {
		t.Errorf("output:\n%s", out.String())
	}

	// validate names the mode
	out.Reset()
	if err := runConfig([]string{"validate", filepath.Join(outDir, "etcd-a.yaml")}, nil, &out); err != nil || !strings.Contains(out.String(), "TLS mode: per-node certificate (no CA key on the node)") {
		t.Errorf("validate: %v\n%s", err, out.String())
	}

	// no members: nothing to name in certificates
	os.WriteFile(shared, []byte("version: 1\n"), 0o600)
	if err := runConfig([]string{"render", "--ca", caDir, "--out", outDir, shared}, nil, &out); err == nil || !strings.Contains(err.Error(), "cluster.members is empty") {
		t.Errorf("render without members: %v", err)
	}
}
