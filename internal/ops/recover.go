package ops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/etcd-appliance/appliance/config"
	"github.com/etcd-appliance/appliance/internal/atomicfile"
	"github.com/etcd-appliance/appliance/internal/backup"
	"github.com/etcd-appliance/appliance/internal/datavol"
	"github.com/etcd-appliance/appliance/internal/membership"
	"github.com/etcd-appliance/appliance/internal/objstore"
	"github.com/etcd-appliance/appliance/internal/snapshot"
	"github.com/etcd-appliance/appliance/internal/status"
)

// RecoverOptions say how `firstboot recover` brings a cluster back.
type RecoverOptions struct {
	// Confirmed is the operator's --confirm-lost-quorum: recovery discards the other members.
	Confirmed bool
	// From is "" (this member's own data, with etcd's --force-new-cluster), "latest" (the newest
	// backup in backup.url) or a store URL of a prefix or one backup object.
	From     string
	Identity string // age identity of encrypted backups
}

// forceNewCluster is etcd's flag, given through etcd.env for one start only.
const forceNewCluster = "ETCD_FORCE_NEW_CLUSTER=true"

// Recover turns this node's member into a new one-member cluster when the cluster has lost its
// quorum for good (most members destroyed). From its own data (etcd's force-new-cluster) it
// loses least: every write this member had. From a backup it loses the writes after that
// backup. The other nodes then join again on blank data disks. It refuses while a quorum of
// members answers: then the dead ones are replaced or removed instead.
func (n *Node) Recover(ctx context.Context, o RecoverOptions, w io.Writer) error {
	s := n.State
	if err := n.checkLostQuorum(ctx); err != nil {
		return err
	}
	if !o.Confirmed {
		return errors.New("recovery makes this member a new one-member cluster and drops every other member: the others must join again on blank data disks, and writes they alone had are lost; run again with --confirm-lost-quorum")
	}
	if o.From == "" {
		return n.forceNewCluster(ctx, w)
	}
	src, err := n.recoverSource(ctx, o, w)
	if err != nil {
		return err
	}
	// everything that can fail for want of room or a store is done while etcd still runs
	_, room, err := n.Usage(s.Volume)
	if err != nil {
		return err
	}
	if need := 2*src.Meta.Size + snapshotHeadroom; room < need {
		return fmt.Errorf("recover: the backup is %s; restoring it takes %s of the data volume, which has %s free: delete old snapshots from %s", status.Size(src.Meta.Size), status.Size(need), status.Size(room), filepath.Join(s.Volume, "snapshots"))
	}
	db := filepath.Join(s.Volume, "backups", "recover.db")
	if err := os.MkdirAll(filepath.Dir(db), 0o700); err != nil {
		return err
	}
	defer os.Remove(db)
	if err := src.SaveTo(ctx, db); err != nil {
		return err
	}
	var st syscall.Stat_t
	if err := syscall.Stat(s.DataDir, &st); err != nil {
		return err
	}
	if err := n.StopEtcd(ctx); err != nil {
		return fmt.Errorf("stopping etcd: %w", err)
	}
	member := filepath.Join(s.DataDir, "member")
	kept := filepath.Join(s.DataDir, "member.before-recover-"+n.Now().UTC().Format("20060102T150405Z"))
	if err := os.Rename(member, kept); err != nil && !os.IsNotExist(err) {
		n.StartEtcd(ctx)
		return fmt.Errorf("keeping the old member data: %w", err)
	}
	token := s.Cluster
	if token == "" {
		token = "etcd-cluster"
	}
	if err := snapshot.Restore(ctx, "etcdutl", db, s.DataDir, s.Member, s.PeerURL, s.Member+"="+s.PeerURL, token, int(st.Uid), int(st.Gid)); err != nil {
		// the member as it was: Restore moves its result into place only once it succeeded
		if rerr := os.Rename(kept, member); rerr != nil && !os.IsNotExist(rerr) {
			return fmt.Errorf("%w; putting the old member data back from %s failed too: %v", err, kept, rerr)
		}
		n.StartEtcd(ctx)
		return fmt.Errorf("recover: %w; the member's data is as it was", err)
	}
	fmt.Fprintf(w, "recover: the member's data before recovery is kept in %s (delete it once the cluster is sound)\n", kept)
	if id, err := datavol.ReadIdentity(s.Volume); err == nil && id != nil {
		id.ClusterID, id.MemberID = "", "" // a new cluster: the agent records its IDs
		if err := datavol.WriteIdentity(s.Volume, id); err != nil {
			return err
		}
	}
	if err := n.StartEtcd(ctx); err != nil {
		return fmt.Errorf("starting etcd on the restored data: %w", err)
	}
	if err := n.waitAlone(ctx); err != nil {
		return err
	}
	fmt.Fprintf(w, "recovered: %s is a new one-member cluster from backup %s (revision %d, taken %s); writes after it are lost. Boot the other nodes on blank data disks to join it.\n",
		s.Member, src, src.Meta.Revision, src.Meta.Time.Format(time.RFC3339))
	return nil
}

// checkLostQuorum refuses a recovery while the cluster has a quorum, as this member sees it.
func (n *Node) checkLostQuorum(ctx context.Context) error {
	// through this member, else (etcd down here) through every configured member
	var cli Cluster
	var ms []membership.Member
	for _, eps := range [][]string{{n.State.Local}, nil} {
		c, err := n.Dial(eps...)
		if err != nil {
			return err
		}
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ms, err = c.LocalMembers(lctx)
		cancel()
		if err == nil {
			cli = c
			break
		}
		c.Close()
	}
	if cli == nil {
		return nil // no member answers: nothing shows a quorum
	}
	defer cli.Close()
	health := membership.HealthOf(statuses(ctx, cli, ms))
	voters := membership.Voters(ms)
	up := 0
	for _, m := range voters {
		if health[m.ID] {
			up++
		}
	}
	if up >= membership.Quorum(len(voters)) {
		return fmt.Errorf("refusing to recover: %d of %d voting members are healthy, a quorum: replace or remove the dead members instead (firstboot remove-member, or boot them on blank disks)", up, len(voters))
	}
	return nil
}

// forceNewCluster restarts etcd once with --force-new-cluster: it keeps this member's data
// and drops every other member from the membership. The flag is taken away again at once.
func (n *Node) forceNewCluster(ctx context.Context, w io.Writer) error {
	s := n.State
	if _, err := os.Stat(filepath.Join(s.DataDir, "member")); err != nil {
		return fmt.Errorf("this member has no data to recover from (%v): use --from latest", err)
	}
	envPath := filepath.Join(n.RunDir, "etcd.env")
	env, err := os.ReadFile(envPath)
	if err != nil {
		return fmt.Errorf("etcd's environment: %w (is this node's member running here?)", err)
	}
	if err := n.StopEtcd(ctx); err != nil {
		return fmt.Errorf("stopping etcd: %w", err)
	}
	forced := append(bytes.TrimRight(env, "\n"), []byte("\n"+forceNewCluster+"\n")...)
	if err := atomicfile.Write(envPath, forced, 0o600); err != nil {
		return err
	}
	startErr := n.StartEtcd(ctx)
	// the flag is for one start: etcd has read its environment, and a later restart with it
	// (Restart=on-failure) would discard the members that joined since
	if err := atomicfile.Write(envPath, env, 0o600); err != nil {
		return err
	}
	if startErr == nil {
		startErr = n.waitAlone(ctx)
	}
	if startErr != nil {
		return fmt.Errorf("etcd with --force-new-cluster: %w", startErr)
	}
	fmt.Fprintf(w, "recovered: %s is a one-member cluster with all of its own data; the other members were dropped. Boot the other nodes on blank data disks to join it.\n", s.Member)
	return nil
}

// waitAlone waits until the local member leads a cluster of one.
func (n *Node) waitAlone(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var last error
	for {
		cli, err := n.Dial(n.State.Local)
		if err == nil {
			ms, merr := cli.LocalMembers(ctx)
			st, serr := cli.Status(ctx, n.State.Local)
			cli.Close()
			switch {
			case merr != nil:
				last = merr
			case serr != nil:
				last = serr
			case len(ms) == 1 && st.Leader == st.Header.MemberId:
				return nil
			default:
				last = fmt.Errorf("%d members, leader %x", len(ms), st.Leader)
			}
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("etcd did not come up as a one-member cluster: %v", last)
		case <-time.After(2 * time.Second):
		}
	}
}

// recoverSource finds and checks (read through once) the backup a recovery restores.
func (n *Node) recoverSource(ctx context.Context, o RecoverOptions, w io.Writer) (*backup.Source, error) {
	b := n.State.Backup
	if b == nil {
		return nil, errors.New("--from needs a backup section (backup.url and its store's endpoint and credentials) in the user-data")
	}
	url, key := b.URL, ""
	if o.From != "latest" {
		if !config.IsStoreURL(o.From) {
			return nil, fmt.Errorf("--from %s: expected latest, or an s3:// or azblob:// URL in backup.url's store", o.From)
		}
		url, key = backup.SplitURL(o.From)
	}
	acc, err := b.Access(url)
	if err != nil {
		return nil, err
	}
	st, err := objstore.Open(acc)
	if err != nil {
		return nil, fmt.Errorf("--from %s: %w", url, err)
	}
	src := &backup.Source{Store: st, Key: key}
	if o.Identity != "" {
		if src.IDs, err = backup.ParseIdentity(o.Identity); err != nil {
			return nil, err
		}
	}
	if err := src.Pick(ctx, "", func(k string, why error) { fmt.Fprintf(w, "recover: skipping %s/%s: %v\n", st, k, why) }); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "recover: checking %s (nothing is changed yet)\n", src)
	if err := src.Check(ctx); err != nil {
		return nil, err
	}
	return src, nil
}
