package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/etcd-appliance/appliance/internal/atomicfile"
	"github.com/etcd-appliance/appliance/internal/pki"
)

// peerCheckFile on the data volume records that the peer check is on for good: every member
// held a peer certificate of the current kind once, and none goes back.
const peerCheckFile = "peer-check"

// peerCheck decides whether etcd accepts only peer certificates (pki.PeerCN) on the peer
// port. A member must not refuse its peers, so the check turns on only when none would be
// refused: in a new cluster (every member runs this image), or once every other member
// presents a peer certificate of the current kind. During a rolling reimage from an older
// image the last member reimaged turns it on; the others at their next boot.
func (b *boot) peerCheck(ctx context.Context) error {
	own, err := os.ReadFile(b.files.peer)
	if err != nil {
		return err
	}
	if !pki.IsPeer(own) {
		b.say("peer check: off: this member's pre-issued certificate is not named %s, so any certificate of the cluster CA is accepted on the peer port", pki.PeerCN)
		return nil
	}
	marker := filepath.Join(filepath.Dir(b.files.peer), peerCheckFile)
	var why string
	switch _, err := os.Stat(marker); {
	case err == nil:
		why = "every member held a peer certificate before"
	case b.newCluster:
		why = "a new cluster"
	default:
		old, err := b.olderPeers(ctx)
		if err != nil {
			return err
		}
		if len(old) > 0 {
			b.say("peer check: off until every member presents a peer certificate named %s (%s); it turns on at this member's next boot after that", pki.PeerCN, strings.Join(old, "; "))
			return nil
		}
		why = "every other member presents a peer certificate"
	}
	if err := atomicfile.Write(marker, []byte(pki.PeerCN+"\n"), 0o644); err != nil {
		return err
	}
	b.spec.PeerAllowedCN = pki.PeerCN
	b.say("peer check: on (%s): the peer port accepts only certificates named %s, not client bundles", why, pki.PeerCN)
	return nil
}

// olderPeers asks every other member's peer port for its certificate and lists those that do
// not present a current peer certificate, or cannot be asked, with the reason.
func (b *boot) olderPeers(ctx context.Context) ([]string, error) {
	tc, err := b.peerTLS()
	if err != nil {
		return nil, err
	}
	var old []string
	for _, p := range strings.Split(b.spec.InitialClusterFlag(), ",") {
		name, peerURL, ok := strings.Cut(p, "=")
		if !ok || name == b.spec.Self.Name || b.unstarted[peerURL] {
			continue
		}
		u, err := url.Parse(peerURL)
		if err != nil || u.Host == "" {
			old = append(old, fmt.Sprintf("%s: peer URL %q", name, peerURL))
			continue
		}
		cn, err := b.m.PeerCertName(ctx, u.Host, tc)
		switch {
		case err != nil:
			old = append(old, fmt.Sprintf("%s: %v", name, err))
		case cn != pki.PeerCN:
			old = append(old, fmt.Sprintf("%s presents %q", name, cn))
		}
	}
	slices.Sort(old)
	return old, nil
}

// peerTLS is how this member connects to its peers: its peer certificate, and the cluster CA
// for theirs (the name they were dialled by is not checked: only who signed them).
func (b *boot) peerTLS() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(b.files.peer, b.files.key)
	if err != nil {
		return nil, fmt.Errorf("peer check: %w", err)
	}
	caPEM, err := os.ReadFile(b.files.ca)
	if err != nil {
		return nil, fmt.Errorf("peer check: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("peer check: no CA certificate in " + b.files.ca)
	}
	return &tls.Config{
		Certificates:       []tls.Certificate{cert},
		MinVersion:         tls.VersionTLS12, // older members may not ask for 1.3
		InsecureSkipVerify: true,             // verified below, without a host name
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("no certificate")
			}
			leaf, err := x509.ParseCertificate(raw[0])
			if err != nil {
				return err
			}
			_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			return err
		},
	}, nil
}
