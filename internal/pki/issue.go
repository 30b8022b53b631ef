package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Identity is what a member's certificates must name: its etcd member name, the host names
// and the addresses clients and peers reach it by.
type Identity struct {
	Name      string
	Hostnames []string
	IPs       []netip.Addr
}

// IssueServer signs the certificate etcd serves clients with (--cert-file). It names the
// member, its host names and addresses, and localhost, so that etcdctl on the node itself
// works too.
//
// It carries clientAuth besides serverAuth: etcd's gRPC gateway (the HTTP/JSON API under
// /v3/ on the client port) dials the member's own gRPC server presenting this certificate,
// and with --client-cert-auth a serverAuth-only certificate is refused there ("incompatible
// key usage"; checked against etcd 3.6). etcd's examples issue server certificates this way,
// and it spares a separate --client-cert-file.
func (ca *CA) IssueServer(id Identity, key crypto.PublicKey, now time.Time) ([]byte, error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: id.Name},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    dnsNames(id, "localhost"),
		IPAddresses: ipAddresses(id.IPs, netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()),
	}
	return ca.issue("server", tmpl, key, now)
}

// PeerCN is the common name of every member's peer certificate, and only of those: the
// client-certificate issuers refuse it, and etcd's --peer-cert-allowed-cn accepts nothing
// else on the peer port, so a client bundle of the same CA cannot speak raft.
const PeerCN = "etcd-appliance-peer"

// PeerCheckFile, in the data volume's pki directory, records that the member ran with the
// peer check on in a healthy cluster: every member holds a peer certificate named PeerCN.
const PeerCheckFile = "peer-check"

// IsPeer tells whether certPEM's first certificate is a peer certificate of the current kind.
func IsPeer(certPEM []byte) bool {
	certs, err := ParseCertificates(certPEM)
	return err == nil && certs[0].Subject.CommonName == PeerCN
}

// IssuePeer signs the certificate a member uses towards its peers (--peer-cert-file), both
// to accept their connections and to make its own, hence serverAuth and clientAuth. Its
// common name is PeerCN; the member's names and addresses are in its SANs.
func (ca *CA) IssuePeer(id Identity, key crypto.PublicKey, now time.Time) ([]byte, error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: PeerCN},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    dnsNames(id),
		IPAddresses: ipAddresses(id.IPs),
	}
	return ca.issue("peer", tmpl, key, now)
}

// IssueNode signs a pre-issued node certificate (tls.node_cert) for a node that never holds
// the CA key: one certificate for both ports, so it is named PeerCN (the peer check accepts
// it) and carries what IssueServer's does (the member's names and addresses, localhost).
func (ca *CA) IssueNode(id Identity, key crypto.PublicKey, now time.Time) ([]byte, error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: PeerCN},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    dnsNames(id, "localhost"),
		IPAddresses: ipAddresses(id.IPs, netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()),
	}
	return ca.issue("node", tmpl, key, now)
}

// IssueClient signs a client certificate for name. With --client-cert-auth etcd takes the
// common name as the user when authentication is enabled.
func (ca *CA) IssueClient(name string, key crypto.PublicKey, now time.Time) ([]byte, error) {
	if strings.EqualFold(strings.TrimSpace(name), PeerCN) {
		return nil, fmt.Errorf("client certificate name %q: reserved for members' peer certificates; choose another name", name)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return ca.issue("client", tmpl, key, now)
}

// NewClient makes a client key and signs its certificate for name: what an operator, a test
// or etcdctl on a node needs, as PEM.
func (ca *CA) NewClient(name string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := NewKey()
	if err != nil {
		return nil, nil, err
	}
	if certPEM, err = ca.IssueClient(name, key.Public(), now); err != nil {
		return nil, nil, err
	}
	if keyPEM, err = EncodeKey(key); err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}

// issue fills in what every leaf certificate shares and signs tmpl. Leaves live one year but
// never past the CA: a certificate outliving its CA verifies nowhere.
func (ca *CA) issue(kind string, tmpl *x509.Certificate, key crypto.PublicKey, now time.Time) ([]byte, error) {
	if tmpl.Subject.CommonName == "" {
		return nil, fmt.Errorf("issue %s certificate: no name given", kind)
	}
	if !now.Before(ca.Cert.NotAfter) {
		return nil, fmt.Errorf("issue %s certificate: the CA expired on %s", kind, ca.Cert.NotAfter.UTC().Format(dateFmt))
	}
	serial, err := newSerial()
	if err != nil {
		return nil, fmt.Errorf("issue %s certificate: %w", kind, err)
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-clockSkew)
	tmpl.NotAfter = now.AddDate(1, 0, 0)
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	tmpl.BasicConstraintsValid = true
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	if _, ok := key.(*rsa.PublicKey); ok {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment // TLS 1.2 RSA key exchange
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key, ca.signer)
	if err != nil {
		return nil, fmt.Errorf("issue %s certificate for %q: %w", kind, tmpl.Subject.CommonName, err)
	}
	return pemCert(der), nil
}

// NeedsRenewal tells whether the node must issue certPEM anew, and why: when it does not
// verify against ca, when less than a third of its lifetime is left (so that a node that
// boots rarely still renews well before expiry), or when it does not name every address and
// name of id. Names it has beyond id are no reason: they cannot let anyone else in.
func NeedsRenewal(certPEM []byte, ca *x509.Certificate, id Identity, now time.Time) (bool, string) {
	certs, err := ParseCertificates(certPEM)
	if err != nil {
		return true, "unreadable: " + err.Error()
	}
	c := certs[0]
	life, left := c.NotAfter.Sub(c.NotBefore), c.NotAfter.Sub(now)
	switch {
	case now.Before(c.NotBefore):
		return true, "not valid until " + c.NotBefore.UTC().Format(time.RFC3339)
	case left <= 0:
		return true, "expired on " + c.NotAfter.UTC().Format(dateFmt)
	case left < life/3:
		return true, "expires " + c.NotAfter.UTC().Format(dateFmt) + ", less than a third of its lifetime left"
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	_, err = c.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if errors.As(err, new(x509.UnknownAuthorityError)) {
		return true, "not signed by the cluster CA"
	} else if err != nil {
		return true, "does not verify against the cluster CA: " + err.Error()
	}
	for _, ip := range ipAddresses(id.IPs) {
		if !slices.ContainsFunc(c.IPAddresses, ip.Equal) {
			return true, fmt.Sprintf("address %s is not in the certificate", ip)
		}
	}
	for _, name := range dnsNames(id) {
		if c.VerifyHostname(name) != nil {
			return true, fmt.Sprintf("name %q is not in the certificate", name)
		}
	}
	return false, ""
}

// CheckPair checks a pre-issued node certificate and key before etcd gets them: etcd would
// start, and only its peers would see what is wrong. The one certificate serves clients and
// peers and connects to peers, so it needs both serverAuth and clientAuth. certPEM may
// follow the node certificate with intermediates; caPEM holds the trusted CA certificates.
func CheckPair(certPEM, keyPEM, caPEM []byte, now time.Time) error {
	chain, err := ParseCertificates(certPEM)
	if err != nil {
		return fmt.Errorf("node certificate: %w", err)
	}
	key, err := ParseKey(keyPEM)
	if err != nil {
		return fmt.Errorf("node key: %w", err)
	}
	cas, err := ParseCertificates(caPEM)
	if err != nil {
		return fmt.Errorf("CA certificate: %w", err)
	}
	leaf := chain[0]
	switch {
	case !keyMatches(key, leaf):
		return fmt.Errorf("node key does not belong to the node certificate %q: give the private key of that certificate", leaf.Subject)
	case leaf.IsCA:
		return fmt.Errorf("node certificate %q is a CA certificate: give the node's own certificate, or give the CA key instead and let the node issue its certificates", leaf.Subject)
	case now.Before(leaf.NotBefore):
		return fmt.Errorf("node certificate %q is not valid until %s: check the clock", leaf.Subject, leaf.NotBefore.UTC().Format(time.RFC3339))
	case !now.Before(leaf.NotAfter):
		return fmt.Errorf("node certificate %q expired on %s: issue a new one", leaf.Subject, leaf.NotAfter.UTC().Format(dateFmt))
	}
	opts := x509.VerifyOptions{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool(), CurrentTime: now}
	for _, c := range cas {
		opts.Roots.AddCert(c)
	}
	for _, c := range chain[1:] {
		opts.Intermediates.AddCert(c)
	}
	// Verify accepts any one of KeyUsages, so each usage is checked on its own.
	for _, u := range []struct {
		usage x509.ExtKeyUsage
		name  string
	}{{x509.ExtKeyUsageServerAuth, "serverAuth"}, {x509.ExtKeyUsageClientAuth, "clientAuth"}} {
		opts.KeyUsages = []x509.ExtKeyUsage{u.usage}
		_, err := leaf.Verify(opts)
		var invalid x509.CertificateInvalidError
		switch {
		case err == nil:
		case errors.As(err, new(x509.UnknownAuthorityError)):
			return fmt.Errorf("node certificate %q (issuer %q) is not signed by the CA certificate: issue it from the cluster CA, and list any intermediates after it", leaf.Subject, leaf.Issuer)
		case errors.As(err, &invalid) && invalid.Reason == x509.IncompatibleUsage:
			return fmt.Errorf("node certificate %q lacks extended key usage %s: one certificate serves clients and peers and connects to peers, so it needs both serverAuth and clientAuth", leaf.Subject, u.name)
		default:
			return fmt.Errorf("node certificate %q does not verify against the CA certificate: %w", leaf.Subject, err)
		}
	}
	return nil
}

// dnsNames is the member name and host names of id, then extra, without duplicates.
func dnsNames(id Identity, extra ...string) []string {
	var out []string
	for _, n := range slices.Concat([]string{id.Name}, id.Hostnames, extra) {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// ipAddresses converts addrs and extra for x509 without duplicates. IPv4-mapped addresses
// become plain IPv4, the form peers dial, and zones are dropped: a certificate has no room.
func ipAddresses(addrs []netip.Addr, extra ...netip.Addr) []net.IP {
	var seen []netip.Addr
	var out []net.IP
	for _, a := range slices.Concat(addrs, extra) {
		if !a.IsValid() {
			continue
		}
		a = a.Unmap().WithZone("")
		if !slices.Contains(seen, a) {
			seen = append(seen, a)
			out = append(out, net.IP(a.AsSlice()))
		}
	}
	return out
}
