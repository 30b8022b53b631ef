package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/etcd-appliance/appliance/internal/atomicfile"
	"github.com/etcd-appliance/appliance/internal/pki"
)

// caCmd makes a cluster CA and issues client credentials from it, on the operator's machine:
//
//	imagebuild ca init --dir DIR                      DIR/ca.crt, DIR/ca.key (0600)
//	imagebuild ca client --dir DIR --name N --out F   F.tar.gz: ca.crt, client.crt, client.key, README
//	imagebuild ca config --dir DIR                    the config's tls section for this CA
//	imagebuild ca renew --dir DIR                     DIR/ca.crt valid 10 more years (old kept as ca.crt.old)
func caCmd(_ context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: imagebuild ca init|client|config|renew --dir DIR [...]")
	}
	fs := flag.NewFlagSet("ca "+args[0], flag.ExitOnError)
	dir := fs.String("dir", "ca", "directory holding ca.crt and ca.key")
	name := fs.String("name", "", "client: the certificate's common name (the etcd user, with etcd auth)")
	out := fs.String("out", "", "client: tarball to write (default NAME.tar.gz)")
	endpoints := fs.String("endpoints", "", "client: comma-separated client URLs for the README")
	noKey := fs.Bool("no-key", false, "config: leave ca_key out (nodes then need pre-issued node_cert and node_key)")
	fs.Parse(args[1:])
	switch args[0] {
	case "init":
		return caInit(*dir, time.Now())
	case "client":
		if *name == "" {
			return errors.New("client: --name is required")
		}
		if *out == "" {
			*out = *name + ".tar.gz"
		}
		var eps []string
		if *endpoints != "" {
			eps = strings.Split(*endpoints, ",")
		}
		return caClient(*dir, *name, *out, eps, time.Now())
	case "config":
		s, err := tlsSection(*dir, !*noKey)
		if err != nil {
			return err
		}
		fmt.Print(s)
		return nil
	case "renew":
		return caRenew(*dir, os.Stdout, time.Now())
	default:
		return fmt.Errorf("unknown ca command %q: use init, client, config or renew", args[0])
	}
}

// caInit makes DIR/ca.crt and DIR/ca.key, refusing to replace an existing CA: every node and
// client of a cluster trusts it.
func caInit(dir string, now time.Time) error {
	if _, err := os.Stat(filepath.Join(dir, "ca.key")); err == nil {
		return fmt.Errorf("%s already holds a CA; remove it first if you really want a new one (nodes and clients trust the old one)", dir)
	}
	certPEM, keyPEM, err := pki.NewCA("etcd appliance cluster CA", now)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, "ca.key"), keyPEM, 0o600); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, "ca.crt"), certPEM, 0o644)
}

// caRenew re-signs DIR's CA certificate for ten more years with the same key: everything it
// signed stays valid. The old certificate is kept as ca.crt.old for the roll (security.md).
func caRenew(dir string, out io.Writer, now time.Time) error {
	_, certPEM, keyPEM, err := loadCADir(dir, now)
	if err != nil {
		return err
	}
	renewed, err := pki.RenewCA(certPEM, keyPEM, now)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, "ca.crt.old"), certPEM, 0o644); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, "ca.crt"), renewed, 0o644); err != nil {
		return err
	}
	c, _ := pki.ParseCertificates(renewed)
	fmt.Fprintf(out, "%s/ca.crt renewed until %s (same key: every certificate it signed stays valid); the old one is %s/ca.crt.old\n",
		dir, c[0].NotAfter.UTC().Format(time.DateOnly), dir)
	return nil
}

func loadCADir(dir string, now time.Time) (*pki.CA, []byte, []byte, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w (make one with 'imagebuild ca init --dir %s')", err, dir)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, "ca.key"))
	if err != nil {
		return nil, nil, nil, err
	}
	ca, err := pki.LoadCA(certPEM, keyPEM, now)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", dir, err)
	}
	return ca, certPEM, keyPEM, nil
}

// issueClient makes a client key and certificate from the CA in dir.
func issueClient(dir, name string, now time.Time) (caPEM, certPEM, keyPEM []byte, err error) {
	ca, caPEM, _, err := loadCADir(dir, now)
	if err != nil {
		return nil, nil, nil, err
	}
	certPEM, keyPEM, err = ca.NewClient(name, now)
	return caPEM, certPEM, keyPEM, err
}

func caClient(dir, name, out string, endpoints []string, now time.Time) error {
	caPEM, certPEM, keyPEM, err := issueClient(dir, name, now)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := pki.WriteBundle(&b, pki.Bundle{Name: name, CACert: caPEM, Cert: certPEM, Key: keyPEM, Endpoints: endpoints, Now: now}); err != nil {
		return err
	}
	return atomicfile.Write(out, b.Bytes(), 0o600)
}

// tlsSection is the configuration's tls section for the CA in dir, as YAML.
func tlsSection(dir string, withKey bool) (string, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return "", err
	}
	s := "tls:\n  ca_cert: |\n" + indentPEM(certPEM)
	if withKey {
		keyPEM, err := os.ReadFile(filepath.Join(dir, "ca.key"))
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%s has no ca.key: use --no-key", dir)
		}
		if err != nil {
			return "", err
		}
		s += "  ca_key: |\n" + indentPEM(keyPEM)
	}
	return s, nil
}

func indentPEM(b []byte) string {
	return "    " + strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", "\n    ") + "\n"
}
