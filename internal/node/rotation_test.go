package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/internal/datavol"
	"github.com/etcd-appliance/appliance/internal/pki"
)

// The documented CA rotation keeps the data volume: old CA; old and new trusted, new key (the
// node reissues its certificates and records the new CA); new CA alone. A CA the volume never
// knew is still refused.
func TestBootCARotation(t *testing.T) {
	now := time.Now()
	newCA := func(name string) (certPEM, keyPEM []byte) {
		c, k, err := pki.NewCA(name, now)
		if err != nil {
			t.Fatal(err)
		}
		return c, k
	}
	oldCert, oldKey := newCA("old CA")
	newCert, newKey := newCA("new CA")
	otherCert, otherKey := newCA("another cluster's CA")
	doc := func(certs, key []byte) []byte {
		ind := func(b []byte) string {
			return "    " + strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", "\n    ") + "\n"
		}
		return []byte("version: 1\ntls:\n  ca_cert: |\n" + ind(certs) + "  ca_key: |\n" + ind(key))
	}
	both := append(append([]byte{}, newCert...), oldCert...)
	fp := func(c []byte) string { f, _ := pki.Fingerprint(c); return f }
	data := t.TempDir()
	m := &fakeMachine{}
	for _, step := range []struct {
		name     string
		userData []byte
		console  string
		record   string
	}{
		{"old CA", doc(oldCert, oldKey), "tls: issued the server certificate (new node key)", fp(oldCert)},
		// the documented order: the new certificate first at every step
		{"both trusted, old key", doc(both, oldKey),
			"data volume: its cluster CA is now " + fp(newCert) + " (was " + fp(oldCert) + ", still trusted by tls.ca_cert)", fp(newCert)},
		{"both trusted, new key", doc(both, newKey), "issued the peer certificate (not signed by the cluster CA)", fp(newCert)},
		{"new CA alone", doc(newCert, newKey), "member etcd (", fp(newCert)},
	} {
		n, console := testNode(t, step.userData, data, m)
		if err := n.Boot(context.Background()); err != nil {
			t.Fatalf("%s: boot: %v\n%s", step.name, err, console)
		}
		if !strings.Contains(console.String(), step.console) {
			t.Errorf("%s: console lacks %q:\n%s", step.name, step.console, console)
		}
		if id, _ := datavol.ReadIdentity(data); id == nil || id.CAFingerprint != step.record {
			t.Errorf("%s: volume records CA %+v, want %s", step.name, id, step.record)
		}
	}
	n, console := testNode(t, doc(otherCert, otherKey), data, m)
	var stop *StopError
	if err := n.Boot(context.Background()); !errors.As(err, &stop) || !strings.Contains(console.String(), "another cluster of the same name") {
		t.Errorf("a CA the volume never trusted: %v\n%s", err, console)
	}
}
