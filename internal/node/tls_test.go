package node

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/config"
	"github.com/etcd-appliance/appliance/internal/pki"
)

// A pre-issued node certificate out of date is written as given (the clock may be what is
// wrong) with a warning naming the problem.
func TestEnsureTLSPreIssuedDates(t *testing.T) {
	made := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	caPEM, caKey, err := pki.NewCA("test CA", made)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadCA(caPEM, caKey, made)
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := pki.EncodeKey(key)
	certPEM, err := ca.IssuePeer(pki.Identity{Name: "etcd-a"}, key.Public(), made)
	if err != nil {
		t.Fatal(err)
	}
	tc := config.TLS{CACert: string(caPEM), NodeCert: string(certPEM), NodeKey: string(keyPEM)}
	for _, c := range []struct {
		name string
		now  time.Time
		want string // in the warning; "" for none
	}{
		{"in date", made.AddDate(0, 6, 0), ""},
		{"expired", made.AddDate(2, 0, 0), "expired on 2027-01-01: issue a new one"},
		{"clock behind", made.AddDate(0, 0, -2), "is not valid until 2025-12-31T23:00:00Z: check the clock"},
	} {
		t.Run(c.name, func(t *testing.T) {
			files := newPKIFiles(t.TempDir())
			did, err := ensureTLS(tc, &caMaterial{certPEM: caPEM}, files, pki.Identity{Name: "etcd-a"}, c.now, os.Getuid(), os.Getgid())
			if err != nil {
				t.Fatal(err)
			}
			warning := ""
			for _, d := range did {
				if strings.HasPrefix(d, "WARNING: ") {
					warning = d
				}
			}
			if (c.want == "") != (warning == "") || !strings.Contains(warning, c.want) {
				t.Errorf("did %q, want a warning containing %q", did, c.want)
			}
			if got, _ := os.ReadFile(files.server); string(got) != string(certPEM) {
				t.Error("the pre-issued certificate was not written as given")
			}
		})
	}
}
