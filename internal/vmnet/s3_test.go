package vmnet

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcd-appliance/appliance/internal/testenv"
	"github.com/etcd-appliance/appliance/internal/tlstest"
)

// leafPEM is a server certificate for hosts from ca, as PEM certificate and key.
func leafPEM(t *testing.T, ca *tlstest.CA, hosts ...string) (cert, key []byte) {
	t.Helper()
	leaf := ca.Leaf(t, hosts)
	k, err := x509.MarshalPKCS8PrivateKey(leaf.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Certificate[0]}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k})
}

// TestS3Server starts the S3 server and asks it, from inside the namespace, over https by
// name: it answers as S3 does (an unsigned request is refused with an S3 error), stops, and
// starts again on the same data.
func TestS3Server(t *testing.T) {
	VersitygwBinary = testenv.LookPath(t, versitygw())
	subnet := freeSubnet(t)
	gw := subnet.Addr().Next()
	ca := tlstest.NewCA(t, "vmnet s3 test CA")
	cert, key := leafPEM(t, ca, "s3.etcd.test")
	n := newNet(t, Options{Subnet: subnet, S3: &S3{CertPEM: cert, KeyPEM: key, AccessKey: "AK", SecretKey: "SECRETSECRET", Buckets: []string{"backups"}}})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("versitygw log:\n%s", n.S3Log())
		}
	})
	if fi, err := os.Stat(filepath.Join(n.S3Dir(), "backups")); err != nil || !fi.IsDir() {
		t.Fatalf("bucket directory: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(ca.PEM))
	addr := netip.AddrPortFrom(gw, S3Port).String()
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "s3.etcd.test"},
		DialContext:     n.DialContext,
	}}
	get := func() (string, error) {
		resp, err := client.Get("https://" + addr + "/backups/")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.Status + " " + string(b), nil
	}
	got, err := get()
	if err != nil || !strings.HasPrefix(got, "403") || !strings.Contains(got, "<Code>AccessDenied</Code>") {
		t.Fatalf("unsigned GET: %q, %v; want 403 AccessDenied", got, err)
	}
	if err := n.StopS3(); err != nil {
		t.Fatal(err)
	}
	if got, err := get(); err == nil {
		t.Fatalf("stopped server answered %q", got)
	}
	if err := n.StartS3(); err != nil {
		t.Fatal(err)
	}
	if got, err := get(); err != nil || !strings.HasPrefix(got, "403") {
		t.Fatalf("restarted server: %q, %v", got, err)
	}
}

// versitygw is the S3 server the Makefile builds (VERSITYGW), else one on PATH.
func versitygw() string {
	if p := os.Getenv("VERSITYGW"); p != "" {
		return p
	}
	return "versitygw"
}
