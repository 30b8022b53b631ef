package node

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/etcd-appliance/appliance/config"
	"github.com/etcd-appliance/appliance/internal/datavol"
	"github.com/etcd-appliance/appliance/internal/member"
	"github.com/etcd-appliance/appliance/internal/membership"
	"github.com/etcd-appliance/appliance/internal/snapshot"
	"golang.org/x/sys/unix"
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

// probeCluster asks the other configured members whether their cluster runs, and returns a
// client to them if it does (the caller closes it). No answer within probeTimeout, or a
// cluster whose members have not published themselves yet (it is still forming: that needs a
// quorum), means this node forms the cluster with them: nil.
func (b *boot) probeCluster(ctx context.Context, spec member.Spec, files pkiFiles, ca *caMaterial) (*membership.Client, error) {
	var others []string
	for _, m := range spec.Config.Cluster.Members {
		if m.Name != spec.Self.Name {
			others = append(others, member.URL(m.Address, member.ClientPort))
		}
	}
	if len(others) == 0 {
		return nil, nil
	}
	if !anyListening(ctx, others) {
		b.say("cluster: no other member is listening yet: forming cluster %s (initial-cluster-state new)", spec.Config.Cluster.Name)
		return nil, nil
	}
	cli, err := clusterClient(files, ca, others)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	ms, err := cli.LocalMembers(pctx)
	cancel()
	switch {
	case err != nil:
		b.say("cluster: no other member answered within %s: forming cluster %s (initial-cluster-state new)", probeTimeout, spec.Config.Cluster.Name)
	case !membership.Running(ms):
		b.say("cluster: the other members are still forming cluster %s: forming it with them (initial-cluster-state new)", spec.Config.Cluster.Name)
	default:
		return cli, nil
	}
	cli.Close()
	return nil, nil
}

// joinCluster takes this blank member's place in the running cluster cli reaches
// (membership.Join): late start, learner add, or replacing the stale member its lost volume
// held. It sets spec's state and initial cluster.
func (b *boot) joinCluster(ctx context.Context, spec *member.Spec, cli *membership.Client) error {
	names := map[string]string{}
	for _, m := range spec.Config.Cluster.Members {
		names[member.URL(m.Address, member.PeerPort)] = m.Name
	}
	self := membership.Self{Name: spec.Self.Name, PeerURL: spec.PeerURL()}
	initial, err := membership.Join(ctx, cli, self, names, func(s string) { b.say("cluster: %s", s) })
	if err != nil {
		return err
	}
	spec.State, spec.InitialCluster = "existing", initial
	// the peer check asks only members that have run: one added but never started (a learner
	// joining beside this one) runs whatever image boots it, and is not there to ask
	b.unstarted = map[string]bool{}
	if ms, err := cli.Members(ctx); err == nil {
		for _, m := range ms {
			if !m.Started() {
				for _, u := range m.PeerURLs {
					b.unstarted[u] = true
				}
			}
		}
	}
	return nil
}

// fetchRestore downloads and verifies restore.source into a fresh scratch tmpfs (nothing
// reaches a disk before its checksum is verified), within its own time limit (a snapshot may be
// large), with the config's roots and proxy. The scratch space is released when the boot ends.
func (b *boot) fetchRestore(ctx context.Context, r config.Restore) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	dir, release, err := b.m.Scratch()
	if err != nil {
		return "", err
	}
	b.release = append(b.release, release)
	room, err := freeBytes(dir)
	if err != nil {
		return "", err
	}
	if u, err := url.Parse(r.Source); err == nil && u.Scheme != "file" {
		host := u.Hostname()
		if b.r.Trust.Proxy != nil {
			host = b.r.Trust.Proxy.Hostname()
		}
		b.waitResolvable(ctx, host)
	}
	b.say("restore: fetching %s (room for %d MiB)", r.Source, room>>20)
	return snapshot.Fetch(ctx, b.r.Trust, r.Source, r.SHA256, dir, snapshot.Limits{MaxBytes: room,
		Room: "the room for it in memory (the snapshot is fetched into a tmpfs of 75% of RAM, so that nothing reaches a disk before its sha256 is checked): give the machine more memory, or restore a smaller snapshot"})
}

// freeBytes is the space left in the filesystem holding dir.
func freeBytes(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("restore: the space for the snapshot in %s: %w", dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// restoreMember seeds this member of a new cluster from the snapshot at snap. The volume
// records the snapshot first: a crash at any point leaves either no member data (the next
// boot restores again) or the restored data with its record (the next boot keeps it).
func (b *boot) restoreMember(ctx context.Context, spec member.Spec, snap, sum, dataDir string, vol *datavol.Result, uid, gid int) error {
	token := spec.Config.Cluster.Name
	if token == "" {
		token = "etcd-cluster" // etcd's default, which etcd.env keeps without cluster.name
	}
	st, err := snapshot.Describe(ctx, "etcdutl", snap)
	if err != nil {
		return err
	}
	vol.Identity.Restored = sum
	if err := datavol.WriteIdentity(filepath.Dir(dataDir), vol.Identity); err != nil {
		return err
	}
	if err := snapshot.Restore(ctx, "etcdutl", snap, dataDir, spec.Self.Name, spec.PeerURL(), spec.InitialClusterFlag(), token, uid, gid); err != nil {
		return err
	}
	b.say("restore: seeded member %s from snapshot sha256:%s (revision %d, %d keys)", spec.Self.Name, sum, st.Revision, st.TotalKey)
	return nil
}

// anyListening tells whether any of the client URLs accepts a TCP connection within a few
// seconds: on a cluster's first boot nothing does yet, and there is nothing to ask.
func anyListening(ctx context.Context, urls []string) bool {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	found := make(chan bool, len(urls))
	for _, u := range urls {
		go func() {
			pu, err := url.Parse(u)
			if err != nil {
				found <- false
				return
			}
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", pu.Host)
			if err == nil {
				c.Close()
			}
			found <- err == nil
		}()
	}
	for range urls {
		if <-found {
			return true
		}
	}
	return false
}
