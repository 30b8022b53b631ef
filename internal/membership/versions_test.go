package membership

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/etcd-appliance/appliance/internal/tlstest"
)

// etcdVersion serves /version as etcd does, over TLS that requires a client certificate.
func etcdVersion(t *testing.T, ca *tlstest.CA, body string) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/version" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(body))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Leaf(t, []string{"localhost"})}, ClientAuth: tls.RequireAnyClientCert}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return "https://localhost:" + port
}

func TestVersions(t *testing.T) {
	ca := tlstest.NewCA(t, "etcd-ca")
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	withCert := &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{ca.Leaf(t, []string{"client"})}}
	for _, tc := range []struct {
		name    string
		body    string
		tls     *tls.Config
		want    Versions
		wantErr string
	}{
		{name: "etcd's answer", body: `{"etcdserver":"3.6.16","etcdcluster":"3.6.0"}`, tls: withCert,
			want: Versions{Server: "3.6.16", Cluster: "3.6.0"}},
		{name: "no cluster version yet", body: `{"etcdserver":"3.6.16","etcdcluster":"not_decided"}`, tls: withCert,
			wantErr: "no cluster version yet"},
		{name: "not JSON", body: `<html>`, tls: withCert, wantErr: "/version: invalid character"},
		{name: "no client certificate", body: `{}`, tls: &tls.Config{RootCAs: pool}, wantErr: "asking https://localhost:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := etcdVersion(t, ca, tc.body)
			c := &Client{tls: tc.tls}
			v, err := c.Versions(t.Context(), u)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || v != tc.want {
				t.Fatalf("Versions = %+v, %v; want %+v", v, err, tc.want)
			}
		})
	}
}

// Dial keeps the TLS configuration for the HTTP endpoints.
func TestDialKeepsTLS(t *testing.T) {
	tc := &tls.Config{MinVersion: tls.VersionTLS13}
	c, err := Dial([]string{"https://localhost:1"}, tc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.tls != tc {
		t.Error("the client dropped its TLS configuration")
	}
}
