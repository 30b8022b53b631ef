package datavol

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/etcd-appliance/appliance/internal/atomicfile"
)

// identityFile is where a data volume records whose it is, relative to its mount point.
const identityFile = "appliance/volume.json"

// Identity is the record of which cluster and member a data volume belongs to.
type Identity struct {
	Cluster       string    `json:"cluster"`                  // cluster.name; "" for a single-node cluster
	CAFingerprint string    `json:"ca_fingerprint,omitempty"` // of the cluster CA, once known
	Member        string    `json:"member"`
	ClusterID     string    `json:"cluster_id,omitempty"` // etcd's, once etcd has run
	MemberID      string    `json:"member_id,omitempty"`
	Created       time.Time `json:"created"`
	Image         string    `json:"image,omitempty"` // the OS image version that made the volume
	// Restored is the sha256 of the snapshot this member's data was seeded from (restore:),
	// so that later boots with the same user-data keep the data instead of refusing it.
	Restored string `json:"restored,omitempty"`
	// Left is when the member left its cluster (firstboot leave); etcd is not started again.
	Left *time.Time `json:"left,omitempty"`
	// CATrusted, on the wanted side only, are the fingerprints of every CA certificate the
	// node trusts: during a CA rotation the volume's recorded CA may be any of them.
	CATrusted []string `json:"-"`
}

// IdentityPath is the identity record of the volume mounted at dir.
func IdentityPath(dir string) string { return filepath.Join(dir, identityFile) }

// ReadIdentity reads the identity record of the volume mounted at dir; a volume without one
// gives nil and no error.
func ReadIdentity(dir string) (*Identity, error) {
	path := IdentityPath(dir)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the data volume's identity: %w", err)
	}
	var id Identity
	if err := json.Unmarshal(b, &id); err != nil {
		return nil, fmt.Errorf("reading the data volume's identity %s: %w", path, err)
	}
	return &id, nil
}

// WriteIdentity records id on the volume mounted at dir, atomically: a crash leaves the old
// record or the new one, never a torn file.
func WriteIdentity(dir string, id *Identity) error {
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return fmt.Errorf("writing the data volume's identity: %w", err)
	}
	path := IdentityPath(dir)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("writing the data volume's identity: %w", err)
	}
	if err := atomicfile.Write(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing the data volume's identity: %w", err)
	}
	// The volume's root too (Write synced the record's directory), so that a directory
	// made just now survives a power cut right after boot.
	if err := atomicfile.SyncDir(dir); err != nil {
		return fmt.Errorf("writing the data volume's identity: %w", err)
	}
	return nil
}

// Check refuses a volume that belongs to another cluster than want, or in a multi-member
// cluster to another member. Fields of either side that are not known yet (an empty CA
// fingerprint or member) are not compared. A single-node cluster's member is not compared
// either: its only member's name may follow the hostname, and moving its volume to a new
// machine is how it is recovered.
func (id *Identity) Check(want Identity) error {
	const fix = "boot this node with that cluster's config, attach a blank disk instead, or set data.device to this disk with data.wipe: true to erase it"
	switch {
	case id.Cluster != want.Cluster:
		return fmt.Errorf("the data volume belongs to %s, but this node is configured for %s: %s", clusterName(id.Cluster), clusterName(want.Cluster), fix)
	case id.CAFingerprint != "" && want.CAFingerprint != "" && id.CAFingerprint != want.CAFingerprint && !slices.Contains(want.CATrusted, id.CAFingerprint):
		return fmt.Errorf("the data volume belongs to %s with CA %s, but this node's CA is %s (another cluster of the same name): %s", clusterName(id.Cluster), id.CAFingerprint, want.CAFingerprint, fix)
	case id.Cluster != "" && id.Member != "" && want.Member != "" && id.Member != want.Member:
		return fmt.Errorf("the data volume holds member %q of %s, but this node is configured as member %q: attach %s's volume to this node, attach a blank disk instead, or set data.device to this disk with data.wipe: true to erase it",
			id.Member, clusterName(id.Cluster), want.Member, id.Member)
	}
	return nil
}

func clusterName(name string) string {
	if name == "" {
		return "a single-node cluster"
	}
	return fmt.Sprintf("cluster %q", name)
}
