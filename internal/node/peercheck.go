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
	"time"

	"github.com/etcd-appliance/appliance/internal/member"
	"github.com/etcd-appliance/appliance/internal/membership"
	"github.com/etcd-appliance/appliance/internal/pki"
)

// peerCheck decides whether etcd accepts only peer certificates (pki.PeerCN) on the peer
// port. A member must not refuse its peers, so the check turns on only when none would be
// refused: in a new cluster (every member runs this image), or once every other member that
// has run presents a peer certificate of the current kind. During a rolling reimage from an
// older image the last member reimaged turns it on; the others at their next boot. Once on in
// a healthy cluster, the agent records it on the data volume (pki.PeerCheckFile) and it stays on.
func (b *boot) peerCheck(ctx context.Context) error {
	own, err := os.ReadFile(b.files.peer)
	if err != nil {
		return err
	}
	if !pki.IsPeer(own) {
		b.say("peer check: off: this member's pre-issued certificate is not named %s, so any certificate of the cluster CA is accepted on the peer port", pki.PeerCN)
		return nil
	}
	var why string
	switch _, err := os.Stat(filepath.Join(filepath.Dir(b.files.peer), pki.PeerCheckFile)); {
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
	b.spec.PeerAllowedCN = pki.PeerCN
	b.say("peer check: on (%s): the peer port accepts only certificates named %s, not client bundles", why, pki.PeerCN)
	return nil
}

// peerAskFor bounds how long the peers' ports are asked: a member that has just been added
// is let through the others' packet filters by their agents within a round or two.
var peerAskFor = 30 * time.Second

// olderPeers lists the members that have run and do not present a current peer certificate,
// or cannot be asked, with the reason. The member list is the running cluster's (asked on the
// client ports), not the configuration's: members added since are in it.
func (b *boot) olderPeers(ctx context.Context) ([]string, error) {
	tc, err := b.peerTLS()
	if err != nil {
		return nil, err
	}
	peers, err := b.runningPeers(ctx)
	if err != nil {
		return []string{"the member list: " + err.Error()}, nil
	}
	deadline := time.Now().Add(peerAskFor)
	var old []string
	for name, peerURL := range peers {
		u, err := url.Parse(peerURL)
		if err != nil || u.Host == "" {
			old = append(old, fmt.Sprintf("%s: peer URL %q", name, peerURL))
			continue
		}
		for {
			cn, err := b.m.PeerCertName(ctx, u.Host, tc)
			if err == nil && cn != pki.PeerCN {
				old = append(old, fmt.Sprintf("%s presents %q", name, cn))
			}
			if err == nil {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				old = append(old, fmt.Sprintf("%s: %v", name, err))
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(3 * time.Second):
			}
		}
	}
	slices.Sort(old)
	return old, nil
}

// runningPeers are the other members that have run, name → peer URL: from the running
// cluster when joining (InitialCluster, members that never started left out), else asked of
// the configured members' client ports.
func (b *boot) runningPeers(ctx context.Context) (map[string]string, error) {
	peers := map[string]string{}
	if b.spec.InitialCluster != "" {
		for _, p := range strings.Split(b.spec.InitialCluster, ",") {
			if name, peerURL, ok := strings.Cut(p, "="); ok && name != b.spec.Self.Name && !b.unstarted[peerURL] {
				peers[name] = peerURL
			}
		}
		return peers, nil
	}
	list := b.listMembers
	if list == nil {
		list = b.askMembers
	}
	ms, err := list(ctx)
	if err != nil {
		return nil, err
	}
	self := b.spec.PeerURL()
	for _, m := range ms {
		if !m.Started() || slices.Contains(m.PeerURLs, self) || m.Name == b.spec.Self.Name {
			continue
		}
		for _, u := range m.PeerURLs {
			peers[m.Label()+" "+u] = u
		}
	}
	return peers, nil
}

// askMembers reads the member list from the configured members' client ports.
func (b *boot) askMembers(ctx context.Context) ([]membership.Member, error) {
	var others []string
	for _, m := range b.c.Cluster.Members {
		if m.Name != b.spec.Self.Name {
			others = append(others, member.URL(m.Address, member.ClientPort))
		}
	}
	if len(others) == 0 {
		return nil, nil // a single member: no peer to refuse
	}
	cli, err := clusterClient(b.files, b.ca, others)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	lctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	return cli.LocalMembers(lctx)
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
