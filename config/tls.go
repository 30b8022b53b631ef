package config

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/etcd-appliance/appliance/internal/pki"
)

// validateTLS checks that the PEM material parses and fits together, so that a node never
// starts with a CA it cannot use or a certificate its peers will refuse.
func validateTLS(t TLS, haveMembers bool, errs *problems) {
	if t == (TLS{}) {
		if haveMembers {
			errs.add("tls.ca_cert", "required when cluster.members is set: every member must trust the same CA")
		}
		return // a single node makes its own CA
	}

	var cas []*x509.Certificate
	if t.CACert == "" {
		errs.add("tls.ca_cert", "required when any tls field is set: the PEM certificate of the cluster's CA")
	} else if certs, err := parseCertificates(t.CACert); err != nil {
		errs.add("tls.ca_cert", "%v", err)
	} else {
		for i, c := range certs {
			if !c.IsCA || !c.BasicConstraintsValid {
				errs.add("tls.ca_cert", "certificate %d (%s) is not a CA certificate: give the CA's certificate, not a node's", i+1, c.Subject)
				continue
			}
			cas = append(cas, c)
		}
	}

	if t.CAKey != "" {
		key, err := pki.ParseKey([]byte(t.CAKey))
		i := slices.IndexFunc(cas, func(c *x509.Certificate) bool { return err == nil && keyMatches(key, c) })
		switch {
		case err != nil:
			errs.add("tls.ca_key", "%v", err)
		case len(cas) > 0 && i < 0:
			errs.add("tls.ca_key", "does not belong to tls.ca_cert: give the private key of that CA certificate")
		case i >= 0 && cas[i].KeyUsage != 0 && cas[i].KeyUsage&x509.KeyUsageCertSign == 0:
			// the node's pki.LoadCA refuses it: the CA key is given so that nodes issue
			errs.add("tls.ca_cert", "the certificate of tls.ca_key (%s) lacks key usage certSign, so nodes cannot issue their certificates from it: make the CA with keyUsage keyCertSign", cas[i].Subject)
		}
	}

	switch {
	case t.CAKey == "" && t.NodeCert == "" && t.NodeKey == "":
		errs.add("tls.node_cert", "required without tls.ca_key: give either the CA key (nodes issue their own certificates) or a pre-issued node_cert and node_key")
		errs.add("tls.node_key", "required without tls.ca_key: give either the CA key or a pre-issued node_cert and node_key")
		return
	case t.NodeCert == "" && t.NodeKey != "":
		errs.add("tls.node_cert", "required with tls.node_key: give the certificate that belongs to the key")
	case t.NodeCert != "" && t.NodeKey == "":
		errs.add("tls.node_key", "required with tls.node_cert: give the private key of the certificate")
	}

	var leaf *x509.Certificate
	if t.NodeCert != "" {
		chain, err := parseCertificates(t.NodeCert)
		if err != nil {
			errs.add("tls.node_cert", "%v", err)
		} else {
			leaf = chain[0]
			if err := checkNodeCert(chain, cas); err != nil {
				errs.add("tls.node_cert", "%v", err)
			}
		}
	}
	if t.NodeKey != "" {
		key, err := pki.ParseKey([]byte(t.NodeKey))
		switch {
		case err != nil:
			errs.add("tls.node_key", "%v", err)
		case leaf != nil && !keyMatches(key, leaf):
			errs.add("tls.node_key", "does not belong to tls.node_cert: give the private key of that certificate")
		}
	}
}

// checkNodeCert checks a node certificate (optionally followed by intermediates) against the CA
// certificates. Validity dates are not checked: a node's clock may be wrong when this runs.
func checkNodeCert(chain, cas []*x509.Certificate) error {
	leaf := chain[0]
	if len(leaf.ExtKeyUsage) > 0 && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny) &&
		!(slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) && slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth)) {
		return errors.New("needs both extended key usages serverAuth and clientAuth: a member serves clients and peers and connects to peers")
	}
	for i := 0; i+1 < len(chain); i++ {
		if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
			return fmt.Errorf("certificate %d is not signed by certificate %d after it: list the node certificate first, then its intermediates in order: %w", i+1, i+2, err)
		}
	}
	if len(cas) == 0 {
		return nil // the CA problem is reported on its own
	}
	last := chain[len(chain)-1]
	for _, ca := range cas {
		if last.Equal(ca) || last.CheckSignatureFrom(ca) == nil {
			return nil
		}
	}
	return fmt.Errorf("is not signed by tls.ca_cert (issuer %q): issue it from that CA", last.Issuer.String())
}

// parseCertificates reads one or more PEM CERTIFICATE blocks and nothing else.
func parseCertificates(s string) ([]*x509.Certificate, error) {
	blocks, err := pemBlocks(s, "-----BEGIN CERTIFICATE-----")
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for i, b := range blocks {
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is a %q: expected only CERTIFICATE blocks", i+1, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d is not a valid X.509 certificate: %w", i+1, err)
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// pemBlocks decodes every PEM block in s and refuses anything else, so that a file name or a
// base64 blob pasted by mistake is caught here rather than at etcd start.
func pemBlocks(s, example string) ([]*pem.Block, error) {
	rest := []byte(s)
	var blocks []*pem.Block
	for {
		b, r := pem.Decode(rest)
		if b == nil {
			break
		}
		blocks, rest = append(blocks, b), r
	}
	switch {
	case len(blocks) == 0:
		return nil, fmt.Errorf("is not PEM: expected the text itself, starting with %s (not a file name or base64 of it)", example)
	case !strings.HasPrefix(strings.TrimSpace(s), "-----BEGIN "):
		return nil, errors.New("has text before the first PEM block: remove it")
	case strings.TrimSpace(string(rest)) != "":
		return nil, errors.New("has text after the last PEM block: remove it")
	}
	return blocks, nil
}

// keyMatches reports whether key is the private key of cert.
func keyMatches(key crypto.Signer, cert *x509.Certificate) bool {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(cert.PublicKey)
}
