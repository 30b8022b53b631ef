package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/etcd-appliance/appliance/internal/member"
	"github.com/etcd-appliance/appliance/internal/pki"
	"github.com/etcd-appliance/appliance/internal/platform/detect"
)

// clientCredentials issues a client certificate from the cluster CA on a node that has its
// key: the configuration's (read again from the platform, as at boot) or a single member's
// own CA on the data volume. The tarball goes to --out, or to w ("ssh node firstboot
// client-credentials --name ops > ops.tar.gz").
func clientCredentials(ctx context.Context, args []string, p paths, env detect.Env, w io.Writer) error {
	fs := flag.NewFlagSet("client-credentials", flag.ContinueOnError)
	name := fs.String("name", "", "the client's name: the certificate's common name (the etcd user, with etcd auth)")
	out := fs.String("out", "-", "where to write the tar.gz; - for standard output")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" {
		return errors.New("--name is required")
	}
	r, err := resolve(ctx, env, lookOptions(""))
	if err != nil {
		return err
	}
	now := time.Now()
	t := r.Config.TLS
	var ca *pki.CA
	switch {
	case t.CAKey != "":
		ca, err = pki.LoadCA([]byte(t.CACert), []byte(t.CAKey), now)
	case t.CACert == "":
		files := newPKIFiles(filepath.Join(p.dataDir, "pki"))
		var certPEM, keyPEM []byte
		if certPEM, err = os.ReadFile(files.ca); err == nil {
			if keyPEM, err = os.ReadFile(files.caKey); err == nil {
				ca, err = pki.LoadCA(certPEM, keyPEM, now)
			}
		}
	default:
		return errors.New("this cluster's configuration has no tls.ca_key (nodes use pre-issued certificates): issue client certificates where the CA key is kept, e.g. imagebuild ca client")
	}
	if err != nil {
		return fmt.Errorf("the cluster CA: %w", err)
	}
	certPEM, keyPEM, err := ca.NewClient(*name, now)
	if err != nil {
		return err
	}
	endpoints := member.Endpoints(member.Spec{Self: r.Member, Config: r.Config})
	if len(r.Config.Cluster.Members) == 0 && r.Member.Address != "" {
		endpoints = []string{member.URL(r.Member.Address, member.ClientPort)}
	}
	var b bytes.Buffer
	if err := pki.WriteBundle(&b, pki.Bundle{Name: *name, CACert: ca.CertPEM, Cert: certPEM, Key: keyPEM, Endpoints: endpoints, Now: now}); err != nil {
		return err
	}
	if *out == "-" {
		_, err = w.Write(b.Bytes())
		return err
	}
	return pki.WriteFile(*out, b.Bytes(), 0o600)
}
