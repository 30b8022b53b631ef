package qemutests

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"

	"github.com/etcd-appliance/appliance/internal/pki"
)

// testCA is a cluster CA the test owns: it goes into user-data, and the test issues its own
// client certificate from it, as an operator would.
type testCA struct {
	certPEM, keyPEM []byte
	ca              *pki.CA
}

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	certPEM, keyPEM, err := pki.NewCA(name, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadCA(certPEM, keyPEM, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{certPEM: certPEM, keyPEM: keyPEM, ca: ca}
}

// tlsYAML is the config's tls section with this CA and its key (nodes issue their own).
func (c *testCA) tlsYAML() string {
	return "tls:\n  ca_cert: |\n" + indent(string(c.certPEM), "    ") + "  ca_key: |\n" + indent(string(c.keyPEM), "    ")
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n"+prefix) + "\n"
}

// clientTLS is a client configuration with a certificate from this CA that trusts this CA.
func (c *testCA) clientTLS(t testing.TB, name string) *tls.Config {
	t.Helper()
	certPEM, keyPEM, err := c.ca.NewClient(name, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return pemTLS(t, c.certPEM, certPEM, keyPEM)
}

// pemTLS is a client configuration presenting certPEM/keyPEM and trusting caPEM.
func pemTLS(t testing.TB, caPEM, certPEM, keyPEM []byte) *tls.Config {
	t.Helper()
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("client certificate: %v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA certificate")
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: roots, MinVersion: tls.VersionTLS12}
}

// etcdClient connects with TLS; dial, when set, reaches the endpoints (e.g. inside the test's
// network namespace).
func etcdClient(t testing.TB, endpoints []string, tc *tls.Config, dial func(context.Context, string) (net.Conn, error)) *clientv3.Client {
	t.Helper()
	cfg := clientv3.Config{Endpoints: endpoints, TLS: tc, DialTimeout: 30 * time.Second}
	if dial != nil {
		cfg.DialOptions = append(cfg.DialOptions, grpc.WithContextDialer(dial))
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		t.Fatalf("etcd client for %v: %v", endpoints, err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// credentialsTLS reads a client-credentials tarball (NAME/ca.crt, client.crt, client.key) into
// a client configuration.
func credentialsTLS(t *testing.T, tarball []byte, name string) *tls.Config {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(tarball))
	if err != nil {
		t.Fatalf("credentials tarball: %v", err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("credentials tarball: %v", err)
		}
		files[h.Name], _ = io.ReadAll(tr)
	}
	return pemTLS(t, files[name+"/ca.crt"], files[name+"/client.crt"], files[name+"/client.key"])
}
