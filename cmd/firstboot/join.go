package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/etcd-appliance/appliance/config"
	"github.com/etcd-appliance/appliance/internal/datavol"
	"github.com/etcd-appliance/appliance/internal/member"
	"github.com/etcd-appliance/appliance/internal/membership"
	"github.com/etcd-appliance/appliance/internal/snapshot"
)

// probeTimeout bounds asking the other members whether a cluster runs. Members that are
// themselves forming a cluster do not answer until they have a quorum, so a blank node that
// hears nothing in this time forms the cluster with them (initial-cluster-state new).
const probeTimeout = 10 * time.Second

// hasMemberData tells whether etcd's data directory holds a member (its write-ahead log).
func hasMemberData(dataDir string) bool {
	_, err := os.Stat(filepath.Join(dataDir, "member", "wal"))
	return err == nil
}

// clusterClient dials endpoints with this node's etcdctl credentials.
func clusterClient(files pkiFiles, ca *caMaterial, endpoints []string) (*membership.Client, error) {
	cert, key := etcdctlCreds(files, ca)
	tc, err := membership.TLSConfig(files.ca, cert, key)
	if err != nil {
		return nil, err
	}
	return membership.Dial(endpoints, tc)
}

// joinCluster decides how a member with a blank data volume starts: it forms the configured
// cluster when no other member answers (first boot of a new cluster), and otherwise takes its
// place in the running cluster (membership.Join): late start, learner add, or replacing the
// stale member its lost volume held. It sets spec's state and initial cluster.
func joinCluster(ctx context.Context, spec *member.Spec, files pkiFiles, ca *caMaterial) error {
	c := spec.Config
	var others []string
	names := map[string]string{}
	for _, m := range c.Cluster.Members {
		names[member.URL(m.Address, member.PeerPort)] = m.Name
		if m.Name != spec.Self.Name {
			others = append(others, member.URL(m.Address, member.ClientPort))
		}
	}
	if len(others) == 0 {
		return nil
	}
	cli, err := clusterClient(files, ca, others)
	if err != nil {
		return err
	}
	defer cli.Close()
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	_, err = cli.Members(pctx)
	cancel()
	if err != nil {
		fmt.Printf("etcd-appliance: cluster: no other member answered within %s: forming cluster %s (initial-cluster-state new)\n", probeTimeout, c.Cluster.Name)
		return nil
	}
	self := membership.Self{Name: spec.Self.Name, PeerURL: spec.PeerURL()}
	initial, err := membership.Join(ctx, cli, self, names, func(s string) { fmt.Println("etcd-appliance: cluster: " + s) })
	if err != nil {
		return err
	}
	spec.State, spec.InitialCluster = "existing", initial
	return nil
}

// restoreDir is a tmpfs the snapshot to restore is fetched into: nothing reaches a disk before
// its checksum is verified.
const restoreDir = "/run/etcd-appliance/restore"

// fetchRestore downloads and verifies restore.source into a fresh tmpfs.
func fetchRestore(ctx context.Context, r config.Restore) (string, error) {
	if err := os.MkdirAll(restoreDir, 0o700); err != nil {
		return "", err
	}
	if err := unix.Mount("tmpfs", restoreDir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0700,size=75%"); err != nil {
		return "", fmt.Errorf("mounting a tmpfs for the snapshot: %w", err)
	}
	fmt.Printf("etcd-appliance: restore: fetching %s\n", r.Source)
	path, err := snapshot.Fetch(ctx, r.Source, r.SHA256, restoreDir)
	if err != nil {
		_ = unix.Unmount(restoreDir, 0)
		return "", err
	}
	return path, nil
}

// restoreMember seeds this member of a new cluster from the snapshot at snap, gives the data
// to etcd, and records the snapshot on the volume so that later boots keep the data.
func restoreMember(ctx context.Context, spec member.Spec, snap, dataDir string, vol *datavol.Result, uid, gid int) error {
	defer unix.Unmount(restoreDir, 0)
	token := spec.Config.Cluster.Name
	if token == "" {
		token = "etcd-cluster" // etcd's default, which etcd.env keeps without cluster.name
	}
	st, err := snapshot.Describe(ctx, "etcdutl", snap)
	if err != nil {
		return err
	}
	if err := snapshot.Restore(ctx, "etcdutl", snap, filepath.Join(dataDir), spec.Self.Name, spec.PeerURL(), spec.InitialClusterFlag(), token); err != nil {
		return err
	}
	if err := chownTree(dataDir, uid, gid); err != nil {
		return err
	}
	vol.Identity.Restored = spec.Config.Restore.SHA256
	if err := datavol.WriteIdentity(filepath.Dir(dataDir), vol.Identity); err != nil {
		return err
	}
	fmt.Printf("etcd-appliance: restore: seeded member %s from snapshot sha256:%s (revision %d, %d keys)\n", spec.Self.Name, spec.Config.Restore.SHA256, st.Revision, st.TotalKey)
	return nil
}

func chownTree(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}
