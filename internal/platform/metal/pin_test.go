package metal

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/internal/tlstest"
)

func TestParseCAPin(t *testing.T) {
	ca := tlstest.NewCA(t, "config CA")
	want := sha256.Sum256(ca.Cert.Raw)
	hex := ca.SHA256()
	var colons []string
	for i := 0; i < len(hex); i += 2 {
		colons = append(colons, strings.ToUpper(hex[i:i+2]))
	}
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{hex, true},
		{strings.ToUpper(hex), true},
		{"sha256:" + hex, true},
		{strings.Join(colons, ":"), true}, // openssl x509 -fingerprint -sha256
		{"", false},
		{hex[:62], false},
		{hex + "00", false},
		{strings.Repeat("g", 64), false},
		{"sha1:" + hex, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseCAPin(tc.in)
			if tc.ok != (err == nil) || tc.ok && got != want {
				t.Fatalf("ParseCAPin = %x, %v", got, err)
			}
			if err != nil && !strings.Contains(err.Error(), CAArg+"=") {
				t.Errorf("error %q does not name %s", err, CAArg)
			}
		})
	}
}

func TestVerifyPinned(t *testing.T) {
	root := tlstest.NewCA(t, "root CA")
	inter := root.Intermediate(t, "intermediate CA")
	other := tlstest.NewCA(t, "other CA")
	chain := func(c ...*x509.Certificate) []*x509.Certificate { return c }
	leafOf := func(ca *tlstest.CA, hosts ...string) *x509.Certificate { return ca.Leaf(t, hosts).Leaf }
	byRoot := leafOf(root, "cfg.example", "192.0.2.7")
	byInter := leafOf(inter, "cfg.example")
	// a certificate for cfg.example from another CA, sent with the pinned root: the pinned
	// certificate's presence is not enough, the chain must verify up to it
	forged := leafOf(other, "cfg.example")
	now := time.Now()
	for _, tc := range []struct {
		name      string
		presented []*x509.Certificate
		host      string
		pin       *tlstest.CA
		wantErr   string // "": accepted
	}{
		{"the root, sent with the leaf", chain(byRoot, root.Cert), "cfg.example", root, ""},
		{"by IP address", chain(byRoot, root.Cert), "192.0.2.7", root, ""},
		{"the intermediate the server sends", chain(byInter, inter.Cert), "cfg.example", inter, ""},
		{"the root behind an intermediate", chain(byInter, inter.Cert, root.Cert), "cfg.example", root, ""},
		{"another CA", chain(byRoot, root.Cert), "cfg.example", other, "none of the certificates the server presented has SHA-256 " + other.SHA256() + ": it presented CN=cfg.example"},
		{"the root, not sent", chain(byInter, inter.Cert), "cfg.example", root, "none of the certificates"},
		{"another host name", chain(byRoot, root.Cert), "elsewhere.example", root, "x509: certificate is valid for cfg.example, not elsewhere.example"},
		{"another IP address", chain(byRoot, root.Cert), "192.0.2.8", root, "x509: certificate is valid for 192.0.2.7, not 192.0.2.8"},
		{"the pinned CA did not sign it", chain(forged, root.Cert), "cfg.example", root, "x509: certificate signed by unknown authority"},
		{"nothing", nil, "cfg.example", root, "no certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := verifyPinned(tc.presented, tc.host, sha256.Sum256(tc.pin.Cert.Raw), now)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
	if err := verifyPinned(chain(byRoot, root.Cert), "cfg.example", sha256.Sum256(root.Cert.Raw), now.Add(48*time.Hour)); err == nil {
		t.Error("an expired certificate was accepted")
	}
}

// The config URL's server is checked against the pin alone: its CA, which the system does not
// trust, is accepted; another refused at once with what to do, as is a server the system's
// roots do not trust when nothing is pinned.
func TestFetchPinned(t *testing.T) {
	ca := tlstest.NewCA(t, "config CA")
	var served atomic.Int32
	base := tlstest.Server(t, ca.Leaf(t, []string{"localhost"}, ca), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.Write([]byte(config))
	}))
	for _, tc := range []struct {
		name, pin string
		wantErr   []string
	}{
		{name: "its CA", pin: ca.SHA256()},
		{name: "another CA", pin: tlstest.NewCA(t, "other").SHA256(),
			wantErr: []string{KernelArg + "=" + base + "/c.yaml: the server's certificate fails " + CAArg + "=: none of the certificates", "openssl x509 -in ca.pem -outform DER | sha256sum"}},
		{name: "nothing pinned",
			wantErr: []string{KernelArg + "=" + base + "/c.yaml: tls: failed to verify certificate: x509: certificate signed by unknown authority", "pin a private CA with " + CAArg + "="}},
		{name: "a bad pin", pin: "abc", wantErr: []string{CAArg + "=abc: expected the 64 hex digits"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := served.Load()
			o := fast(t)
			o.CASHA256 = tc.pin
			md, err := o.Fetch(context.Background(), base+"/c.yaml")
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if string(md.UserData) != config {
					t.Errorf("user-data %q", md.UserData)
				}
				return
			}
			var perm *permanentError
			if err == nil || !errors.As(err, &perm) && !strings.HasPrefix(err.Error(), CAArg) {
				t.Fatalf("err = %v, want one without retries", err)
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if served.Load() != before {
				t.Error("the server was asked")
			}
		})
	}
}
