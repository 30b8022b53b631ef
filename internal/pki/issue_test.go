package pki

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

var memberA = Identity{
	Name:      "etcd-a",
	Hostnames: []string{"node-a.example.com", "etcd-a"}, // the duplicate appears once
	IPs: []netip.Addr{
		netip.MustParseAddr("10.0.0.5"),
		netip.MustParseAddr("fd00::5"),
		netip.MustParseAddr("::ffff:10.0.0.5"), // the same address, IPv4-mapped
	},
}

func TestIssue(t *testing.T) {
	ca := newTestCA(t, "cluster CA", t0)
	server := func(pub crypto.PublicKey) ([]byte, error) { return ca.IssueServer(memberA, pub, t0) }
	peer := func(pub crypto.PublicKey) ([]byte, error) { return ca.IssuePeer(memberA, pub, t0) }
	client := func(pub crypto.PublicKey) ([]byte, error) { return ca.IssueClient("alice", pub, t0) }
	tests := []struct {
		name       string
		issue      func(crypto.PublicKey) ([]byte, error)
		cn         string
		dns        []string
		ips        []string
		serverAuth bool
		clientAuth bool
	}{
		{
			name: "server", issue: server, cn: "etcd-a",
			dns:        []string{"etcd-a", "node-a.example.com", "localhost"},
			ips:        []string{"10.0.0.5", "fd00::5", "127.0.0.1", "::1"},
			serverAuth: true, clientAuth: true, // clientAuth for etcd's gRPC gateway
		},
		{
			name: "peer", issue: peer, cn: PeerCN,
			dns:        []string{"etcd-a", "node-a.example.com"},
			ips:        []string{"10.0.0.5", "fd00::5"},
			serverAuth: true, clientAuth: true,
		},
		{name: "client", issue: client, cn: "alice", clientAuth: true},
	}
	roots := poolOf(t, ca.CertPEM)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certPEM, _ := newPair(t, tt.issue)
			c := mustParse(t, certPEM)
			for _, u := range []struct {
				usage x509.ExtKeyUsage
				want  bool
			}{{x509.ExtKeyUsageServerAuth, tt.serverAuth}, {x509.ExtKeyUsageClientAuth, tt.clientAuth}} {
				_, err := c.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: t0, KeyUsages: []x509.ExtKeyUsage{u.usage}})
				if (err == nil) != u.want {
					t.Errorf("verify for usage %v: %v, want success %v", u.usage, err, u.want)
				}
			}
			if c.Subject.CommonName != tt.cn {
				t.Errorf("CN = %q, want %q", c.Subject.CommonName, tt.cn)
			}
			if !slices.Equal(c.DNSNames, tt.dns) {
				t.Errorf("DNS SANs = %q, want %q", c.DNSNames, tt.dns)
			}
			var ips []string
			for _, ip := range c.IPAddresses {
				ips = append(ips, ip.String())
			}
			if !slices.Equal(ips, tt.ips) {
				t.Errorf("IP SANs = %q, want %q", ips, tt.ips)
			}
			if !c.NotBefore.Equal(t0.Add(-time.Hour)) || !c.NotAfter.Equal(t0.AddDate(1, 0, 0)) {
				t.Errorf("validity %s to %s, want an hour before %s for a year", c.NotBefore, c.NotAfter, t0)
			}
			if c.IsCA || c.KeyUsage != x509.KeyUsageDigitalSignature {
				t.Errorf("IsCA %v, KeyUsage %v: want a leaf for digital signatures", c.IsCA, c.KeyUsage)
			}
			if !bytes.Equal(c.AuthorityKeyId, ca.Cert.SubjectKeyId) {
				t.Errorf("AuthorityKeyId %x, want the CA's SubjectKeyId %x", c.AuthorityKeyId, ca.Cert.SubjectKeyId)
			}
		})
	}
}

func TestIssueNearCAExpiry(t *testing.T) {
	ca := newTestCA(t, "cluster CA", t0)
	soon := ca.Cert.NotAfter.AddDate(0, -1, 0)
	certPEM, _ := newPair(t, func(pub crypto.PublicKey) ([]byte, error) { return ca.IssueServer(memberA, pub, soon) })
	if got := mustParse(t, certPEM).NotAfter; !got.Equal(ca.Cert.NotAfter) {
		t.Errorf("certificate issued a month before the CA expires ends %s, want the CA's end %s", got, ca.Cert.NotAfter)
	}
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.IssuePeer(memberA, key.Public(), ca.Cert.NotAfter); err == nil || !strings.Contains(err.Error(), "the CA expired on 2036-03-01") {
		t.Errorf("issuing from an expired CA: err = %v", err)
	}
	if _, err := ca.IssueServer(Identity{IPs: memberA.IPs}, key.Public(), t0); err == nil {
		t.Error("issued a server certificate without a member name")
	}
}

func TestNeedsRenewal(t *testing.T) {
	ca := newTestCA(t, "cluster CA", t0)
	other := newTestCA(t, "other CA", t0)
	server, _ := newPair(t, func(pub crypto.PublicKey) ([]byte, error) { return ca.IssueServer(memberA, pub, t0) })
	peer, _ := newPair(t, func(pub crypto.PublicKey) ([]byte, error) { return ca.IssuePeer(memberA, pub, t0) })
	stranger, _ := newPair(t, func(pub crypto.PublicKey) ([]byte, error) { return other.IssueServer(memberA, pub, t0) })
	life := mustParse(t, server).NotAfter.Sub(t0.Add(-time.Hour))
	at := func(frac float64) time.Time { return t0.Add(-time.Hour).Add(time.Duration(frac * float64(life))) }
	with := func(f func(*Identity)) Identity {
		id := memberA
		id.Hostnames, id.IPs = slices.Clone(id.Hostnames), slices.Clone(id.IPs)
		f(&id)
		return id
	}

	tests := []struct {
		name   string
		cert   []byte
		id     Identity
		now    time.Time
		reason string // "" means no renewal
	}{
		{name: "fresh", cert: server, id: memberA, now: t0},
		{name: "fresh peer certificate", cert: peer, id: memberA, now: t0},
		{name: "60% of its lifetime", cert: server, id: memberA, now: at(0.6)},
		{name: "70% of its lifetime", cert: server, id: memberA, now: at(0.7), reason: "expires 2027-03-01, less than a third of its lifetime left"},
		{name: "expired", cert: server, id: memberA, now: at(1.01), reason: "expired on 2027-03-01"},
		{name: "clock far behind", cert: server, id: memberA, now: t0.AddDate(0, 0, -1), reason: "not valid until 2026-03-01T11:00:00Z"},
		{name: "new address", cert: server, id: with(func(id *Identity) { id.IPs = append(id.IPs, netip.MustParseAddr("10.0.0.6")) }), now: t0,
			reason: "address 10.0.0.6 is not in the certificate"},
		{name: "address given IPv4-mapped", cert: peer, id: with(func(id *Identity) { id.IPs = []netip.Addr{netip.MustParseAddr("::ffff:10.0.0.5")} }), now: t0},
		{name: "address dropped", cert: server, id: with(func(id *Identity) { id.IPs = id.IPs[:1] }), now: t0},
		{name: "new hostname", cert: server, id: with(func(id *Identity) { id.Hostnames = append(id.Hostnames, "a.new.example") }), now: t0,
			reason: `name "a.new.example" is not in the certificate`},
		{name: "hostname in other case", cert: server, id: with(func(id *Identity) { id.Hostnames = []string{"Node-A.Example.com"} }), now: t0},
		{name: "renamed member", cert: peer, id: with(func(id *Identity) { id.Name = "etcd-b" }), now: t0, reason: `name "etcd-b" is not in the certificate`},
		{name: "other CA", cert: stranger, id: memberA, now: t0, reason: "not signed by the cluster CA"},
		{name: "garbage", cert: []byte("not a certificate"), id: memberA, now: t0, reason: "unreadable: no PEM certificate found: expected text starting with -----BEGIN CERTIFICATE-----"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			renew, reason := NeedsRenewal(tt.cert, ca.Cert, tt.id, tt.now)
			if renew != (tt.reason != "") || reason != tt.reason {
				t.Errorf("NeedsRenewal = %v, %q; want %v, %q", renew, reason, tt.reason != "", tt.reason)
			}
		})
	}
}

func TestCheckPair(t *testing.T) {
	ca := newTestCA(t, "cluster CA", t0)
	other := newTestCA(t, "other CA", t0)
	serverCert, serverKey := newPair(t, func(pub crypto.PublicKey) ([]byte, error) { return ca.IssueServer(memberA, pub, t0) })
	peerCert, peerKey := newPair(t, func(pub crypto.PublicKey) ([]byte, error) { return ca.IssueServer(memberA, pub, t0) })
	clientCert, clientKey := newPair(t, func(pub crypto.PublicKey) ([]byte, error) { return ca.IssueClient("alice", pub, t0) })
	strangerCert, strangerKey := newPair(t, func(pub crypto.PublicKey) ([]byte, error) { return other.IssueServer(memberA, pub, t0) })
	caCert, caKey, err := NewCA("self", t0)
	if err != nil {
		t.Fatal(err)
	}

	// A root and an intermediate, as an enterprise PKI would hand out.
	rootKey, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	rootPEM := signCA(t, "root", rootKey, nil, nil, t0)
	interKey, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	interPEM := signCA(t, "intermediate", interKey, mustParse(t, rootPEM), rootKey, t0)
	interKeyPEM, err := EncodeKey(interKey)
	if err != nil {
		t.Fatal(err)
	}
	inter, err := LoadCA(interPEM, interKeyPEM, t0)
	if err != nil {
		t.Fatal(err)
	}
	chainedCert, chainedKey := newPair(t, func(pub crypto.PublicKey) ([]byte, error) { return inter.IssueServer(memberA, pub, t0) })

	tests := []struct {
		name           string
		cert, key, cas []byte
		now            time.Time
		wantErr        string
	}{
		{name: "server certificate", cert: serverCert, key: serverKey, cas: ca.CertPEM, now: t0},
		{name: "peer certificate", cert: peerCert, key: peerKey, cas: ca.CertPEM, now: t0},
		{name: "CA bundle with the right CA second", cert: peerCert, key: peerKey, cas: append(append([]byte{}, other.CertPEM...), ca.CertPEM...), now: t0},
		{name: "with intermediate", cert: append(append([]byte{}, chainedCert...), interPEM...), key: chainedKey, cas: rootPEM, now: t0},

		{name: "intermediate missing", cert: chainedCert, key: chainedKey, cas: rootPEM, now: t0,
			wantErr: `node certificate "CN=etcd-a" (issuer "CN=intermediate") is not signed by the CA certificate`},
		{name: "client-only certificate", cert: clientCert, key: clientKey, cas: ca.CertPEM, now: t0,
			wantErr: `node certificate "CN=alice" lacks extended key usage serverAuth`},
		{name: "key of another certificate", cert: serverCert, key: peerKey, cas: ca.CertPEM, now: t0,
			wantErr: `node key does not belong to the node certificate "CN=etcd-a"`},
		{name: "other CA", cert: strangerCert, key: strangerKey, cas: ca.CertPEM, now: t0,
			wantErr: `(issuer "CN=other CA") is not signed by the CA certificate`},
		{name: "expired", cert: peerCert, key: peerKey, cas: ca.CertPEM, now: t0.AddDate(1, 0, 0),
			wantErr: `node certificate "CN=etcd-a" expired on 2027-03-01: issue a new one`},
		{name: "not yet valid", cert: peerCert, key: peerKey, cas: ca.CertPEM, now: t0.Add(-2 * time.Hour),
			wantErr: "is not valid until 2026-03-01T11:00:00Z: check the clock"},
		{name: "CA given as node certificate", cert: caCert, key: caKey, cas: caCert, now: t0,
			wantErr: `node certificate "CN=self" is a CA certificate`},
		{name: "key not PEM", cert: peerCert, key: []byte("secret"), cas: ca.CertPEM, now: t0, wantErr: "node key: no PEM private key found"},
		{name: "CA not PEM", cert: peerCert, key: peerKey, cas: nil, now: t0, wantErr: "CA certificate: no PEM certificate found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPair(tt.cert, tt.key, tt.cas, tt.now)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatal(err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestIPAddresses(t *testing.T) {
	got := ipAddresses([]netip.Addr{netip.MustParseAddr("fe80::1%eth0"), {}, netip.MustParseAddr("::ffff:192.0.2.1")}, netip.MustParseAddr("192.0.2.1"))
	want := []net.IP{net.ParseIP("fe80::1"), net.ParseIP("192.0.2.1").To4()}
	if !slices.EqualFunc(got, want, func(a, b net.IP) bool { return bytes.Equal(a, b) }) {
		t.Errorf("ipAddresses = %v, want %v (zone dropped, invalid skipped, mapped IPv4 unmapped and deduplicated)", got, want)
	}
}

// A client bundle can never carry the peer certificates' name: etcd's peer check relies on it.
func TestClientRefusesPeerName(t *testing.T) {
	ca := newTestCA(t, "cluster CA", t0)
	for _, name := range []string{PeerCN, "ETCD-APPLIANCE-PEER", " etcd-appliance-peer "} {
		if _, _, err := ca.NewClient(name, t0); err == nil || !strings.Contains(err.Error(), "reserved for members' peer certificates") {
			t.Errorf("client certificate named %q: err = %v, want a refusal", name, err)
		}
	}
	if _, _, err := ca.NewClient("ops", t0); err != nil {
		t.Fatal(err)
	}
}

// A renewed CA certificate keeps every certificate the old one signed valid, and lives longer.
func TestRenewCA(t *testing.T) {
	certPEM, keyPEM, err := NewCA("cluster CA", t0)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := LoadCA(certPEM, keyPEM, t0)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := NewKey()
	leafPEM, err := ca.IssuePeer(memberA, key.Public(), t0)
	if err != nil {
		t.Fatal(err)
	}
	later := t0.AddDate(0, 6, 0)
	renewed, err := RenewCA(certPEM, keyPEM, later)
	if err != nil {
		t.Fatal(err)
	}
	oldCA, newCA := mustParse(t, certPEM), mustParse(t, renewed)
	if !newCA.NotAfter.After(oldCA.NotAfter) || newCA.Subject.String() != oldCA.Subject.String() {
		t.Errorf("renewed CA: subject %q until %v; old: %q until %v", newCA.Subject, newCA.NotAfter, oldCA.Subject, oldCA.NotAfter)
	}
	roots := x509.NewCertPool()
	roots.AddCert(newCA)
	if _, err := mustParse(t, leafPEM).Verify(x509.VerifyOptions{Roots: roots, CurrentTime: t0.AddDate(0, 8, 0), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("a certificate signed before the renewal does not verify against the renewed CA: %v", err)
	}
	if _, err := LoadCA(renewed, keyPEM, later); err != nil {
		t.Errorf("the renewed CA does not load with its key: %v", err)
	}
}
