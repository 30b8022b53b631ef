package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/internal/atomicfile"
	"github.com/etcd-appliance/appliance/internal/nodestate"
	"github.com/etcd-appliance/appliance/internal/pki"
	"github.com/etcd-appliance/appliance/internal/status"
)

// A node whose member left (or whose boot was refused) has no etcd.env: status says so
// without dialing anything, exits unhealthy, and still shows the certificate and image.
func TestStatusWithoutMember(t *testing.T) {
	run := t.TempDir()
	now := time.Now()
	caCert, caKey, err := pki.NewCA("test CA", now)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadCA(caCert, caKey, now)
	if err != nil {
		t.Fatal(err)
	}
	cert, _, err := ca.NewClient("etcd-a", now)
	if err != nil {
		t.Fatal(err)
	}
	server := filepath.Join(run, "server.crt")
	if err := atomicfile.Write(server, cert, 0o644); err != nil {
		t.Fatal(err)
	}
	s := nodestate.State{Member: "etcd-a", PeerURL: "https://192.0.2.1:2380", Cluster: "prod", Endpoints: []string{"https://192.0.2.1:2379"},
		ServerCert: server, Image: "1.2.0 abc", Quota: 2 << 30}
	if err := nodestate.Write(run, s); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = statusCmd(t.Context(), []string{"--json"}, run, &out)
	if !errors.Is(err, errUnhealthy) {
		t.Errorf("status error %v, want unhealthy", err)
	}
	var st status.Status
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		t.Fatalf("%v\n%s", err, out.Bytes())
	}
	if st.Role != status.NotMember || st.Member != "etcd-a" || st.CertNotAfter.IsZero() {
		t.Errorf("status %+v, want role %q with the certificate's expiry", st, status.NotMember)
	}
	if !strings.HasPrefix(st.Summary, "etcd-a: no member · certificates valid ") || !strings.HasSuffix(st.Summary, " · image 1.2.0 abc") {
		t.Errorf("summary %q", st.Summary)
	}
}

func TestStatusBeforeBoot(t *testing.T) {
	err := statusCmd(t.Context(), nil, t.TempDir(), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "has not finished booting") {
		t.Errorf("status before boot: %v", err)
	}
}
