package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/etcd-appliance/appliance/config"
	"github.com/etcd-appliance/appliance/internal/member"
	"github.com/etcd-appliance/appliance/internal/nodeconfig"
	"github.com/etcd-appliance/appliance/internal/pki"
)

// ClientCredentials issues a client certificate named name from the cluster CA on a node that
// has its key: the configuration's (resolved again from the platform, as at boot, with opts) or
// a single member's own CA on the data volume. It returns the tar.gz bundle.
func (n *Node) ClientCredentials(ctx context.Context, name string) ([]byte, error) {
	if name == "" {
		return nil, errors.New("--name is required")
	}
	r, err := nodeconfig.Resolve(ctx, n.Env, n.Resolve)
	if err != nil {
		return nil, err
	}
	now := n.Now()
	ca, err := issuingCA(r.Config.TLS, newPKIFiles(filepath.Join(n.Paths.DataDir, "pki")), now)
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := ca.NewClient(name, now)
	if err != nil {
		return nil, err
	}
	endpoints := member.Endpoints(member.Spec{Self: r.Member, Config: r.Config})
	if len(r.Config.Cluster.Members) == 0 && r.Member.Address != "" {
		endpoints = []string{member.URL(r.Member.Address, member.ClientPort)}
	}
	var b bytes.Buffer
	if err := pki.WriteBundle(&b, pki.Bundle{Name: name, CACert: ca.CertPEM, Cert: certPEM, Key: keyPEM, Endpoints: endpoints, Now: now}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// issuingCA is the CA that may sign client certificates here: the configuration's when it
// gives the key, a single member's own CA (on the data volume) when it gives no CA at all.
// With pre-issued node certificates there is none on the node.
func issuingCA(t config.TLS, files pkiFiles, now time.Time) (*pki.CA, error) {
	var ca *pki.CA
	var err error
	switch {
	case t.CAKey != "":
		ca, err = pki.LoadCA([]byte(t.CACert), []byte(t.CAKey), now)
	case t.CACert == "":
		var certPEM, keyPEM []byte
		if certPEM, err = os.ReadFile(files.ca); err == nil {
			if keyPEM, err = os.ReadFile(files.caKey); err == nil {
				ca, err = pki.LoadCA(certPEM, keyPEM, now)
			}
		}
	default:
		return nil, errors.New("this cluster's configuration has no tls.ca_key (nodes use pre-issued certificates): issue client certificates where the CA key is kept, e.g. imagebuild ca client")
	}
	if err != nil {
		return nil, fmt.Errorf("the cluster CA: %w", err)
	}
	return ca, nil
}
