package node

import (
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/etcd-appliance/appliance/config"
	"github.com/etcd-appliance/appliance/internal/atomicfile"
	"github.com/etcd-appliance/appliance/internal/member"
	"github.com/etcd-appliance/appliance/internal/pki"
)

// pkiFiles are the member's TLS files in dir (on the data volume).
type pkiFiles struct {
	dir                     string
	ca, caKey               string // caKey only for a CA the node made itself
	key, server, peer       string
	etcdctlCert, etcdctlKey string
}

func newPKIFiles(dir string) pkiFiles {
	j := func(n string) string { return filepath.Join(dir, n) }
	return pkiFiles{dir: dir, ca: j("ca.crt"), caKey: j("ca.key"), key: j("node.key"), server: j("server.crt"), peer: j("peer.crt"),
		etcdctlCert: j("etcdctl.crt"), etcdctlKey: j("etcdctl.key")}
}

func (f pkiFiles) member(dataDir string) member.Files {
	return member.Files{DataDir: dataDir, CA: f.ca, Key: f.key, Server: f.server, Peer: f.peer}
}

// caMaterial is the CA this node trusts and, when it may issue, signs with.
type caMaterial struct {
	certPEM []byte
	ca      *pki.CA // nil with pre-issued node certificates
	own     bool    // made by this node for a single-member cluster without configuration
}

// clusterCA reads the CA from the configuration, or from the data volume of a single member
// without one (making it on first boot). It writes only the node's own CA, and only once.
func clusterCA(t config.TLS, files pkiFiles, now time.Time) (*caMaterial, error) {
	if t.CACert != "" {
		m := &caMaterial{certPEM: []byte(t.CACert)}
		if t.CAKey == "" {
			return m, nil
		}
		ca, err := pki.LoadCA([]byte(t.CACert), []byte(t.CAKey), now)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_cert/tls.ca_key: %w", err)
		}
		m.ca = ca
		return m, nil
	}
	certPEM, errC := os.ReadFile(files.ca)
	keyPEM, errK := os.ReadFile(files.caKey)
	if errors.Is(errC, fs.ErrNotExist) && errors.Is(errK, fs.ErrNotExist) {
		var err error
		if certPEM, keyPEM, err = pki.NewCA("etcd appliance single-member CA", now); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(files.dir, 0o755); err != nil {
			return nil, err
		}
		if err := atomicfile.Write(files.caKey, keyPEM, 0o600); err != nil {
			return nil, err
		}
		if err := atomicfile.Write(files.ca, certPEM, 0o644); err != nil {
			return nil, err
		}
	} else if errC != nil || errK != nil {
		return nil, fmt.Errorf("the data volume's own CA is incomplete (%v; %v): restore %s and %s, or give tls.ca_cert and tls.ca_key", errC, errK, files.ca, files.caKey)
	}
	ca, err := pki.LoadCA(certPEM, keyPEM, now)
	if err != nil {
		return nil, fmt.Errorf("the data volume's own CA (%s): %w", files.ca, err)
	}
	return &caMaterial{certPEM: certPEM, ca: ca, own: true}, nil
}

// ensureTLS puts the member's key and certificates on the data volume: pre-issued ones as
// given, or issued from the CA when missing, near expiry, or not naming every current address
// (renewal at boot). It returns what it did, for the console. etcd (uid, gid) owns the node
// key; root owns the CA key and etcdctl's client key.
func ensureTLS(t config.TLS, m *caMaterial, files pkiFiles, id pki.Identity, now time.Time, uid, gid int) ([]string, error) {
	if err := os.MkdirAll(files.dir, 0o755); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(files.ca, m.certPEM, 0o644); err != nil {
		return nil, err
	}
	var did []string
	if m.ca == nil { // pre-issued: config validation checked the pair against the CA
		for _, w := range []struct {
			path string
			data string
			mode fs.FileMode
		}{{files.key, t.NodeKey, 0o600}, {files.server, t.NodeCert, 0o644}, {files.peer, t.NodeCert, 0o644}} {
			if err := atomicfile.Write(w.path, []byte(w.data), w.mode); err != nil {
				return nil, err
			}
		}
		if err := os.Chown(files.key, uid, gid); err != nil {
			return nil, err
		}
		did = append(did, "using the pre-issued node certificate")
		// The config check leaves dates alone (the clock may be wrong there); here they matter:
		// etcd starts anyway, as the clock may be what is wrong, but the console says why
		// peers will refuse it.
		if err := pki.CheckPair([]byte(t.NodeCert), []byte(t.NodeKey), m.certPEM, now); err != nil {
			did = append(did, "WARNING: "+err.Error())
		}
		return did, nil
	}

	key, fresh, err := loadOrMakeKey(files.key)
	if err != nil {
		return nil, err
	}
	if err := os.Chown(files.key, uid, gid); err != nil {
		return nil, err
	}
	issue := []struct {
		path, kind string
		id         pki.Identity
		sign       func() ([]byte, error)
	}{
		{files.server, "server", id, func() ([]byte, error) { return m.ca.IssueServer(id, key.Public(), now) }},
		{files.peer, "peer", id, func() ([]byte, error) { return m.ca.IssuePeer(id, key.Public(), now) }},
	}
	for _, c := range issue {
		reason := "new node key"
		if !fresh {
			old, err := os.ReadFile(c.path)
			if err != nil {
				reason = "none yet"
			} else if renew, why := pki.NeedsRenewal(old, m.ca.Cert, c.id, now); renew {
				reason = why
			} else if c.kind == "peer" && !pki.IsPeer(old) {
				reason = "an older kind: peer certificates are now named " + pki.PeerCN
			} else {
				continue
			}
		}
		pem, err := c.sign()
		if err != nil {
			return nil, err
		}
		if err := atomicfile.Write(c.path, pem, 0o644); err != nil {
			return nil, err
		}
		did = append(did, fmt.Sprintf("issued the %s certificate (%s)", c.kind, reason))
	}
	// etcdctl on the node: a client certificate for root, renewed like the others
	if old, err := os.ReadFile(files.etcdctlCert); err == nil && !fresh {
		if renew, _ := pki.NeedsRenewal(old, m.ca.Cert, pki.Identity{}, now); !renew {
			return did, nil
		}
	}
	cpem, kpem, err := m.ca.NewClient("root@"+id.Name, now)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(files.etcdctlKey, kpem, 0o600); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(files.etcdctlCert, cpem, 0o644); err != nil {
		return nil, err
	}
	return did, nil
}

// loadOrMakeKey reads the node key, or makes one (fresh) when there is none. A key that
// exists but cannot be read is an error: replacing it silently would hide a damaged volume.
func loadOrMakeKey(path string) (crypto.Signer, bool, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := pki.ParseKey(b)
		if err != nil {
			return nil, false, fmt.Errorf("node key %s: %w (remove it to make a new one)", path, err)
		}
		return k, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	k, err := pki.NewKey()
	if err != nil {
		return nil, false, err
	}
	pem, err := pki.EncodeKey(k)
	if err != nil {
		return nil, false, err
	}
	if err := atomicfile.Write(path, pem, 0o600); err != nil {
		return nil, false, err
	}
	return k, true, nil
}

// etcdctlCreds are the certificate and key etcdctl uses on the node.
func etcdctlCreds(files pkiFiles, m *caMaterial) (cert, key string) {
	if m.ca == nil {
		return files.server, files.key // the pre-issued certificate is a client certificate too
	}
	return files.etcdctlCert, files.etcdctlKey
}
