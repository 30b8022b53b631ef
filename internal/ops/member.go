package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/etcd-appliance/appliance/internal/datavol"
	"github.com/etcd-appliance/appliance/internal/etcdversion"
	"github.com/etcd-appliance/appliance/internal/membership"
)

// UpgradeCheck tells whether this node may go down now (reboot, reimage) without the cluster
// losing its quorum. With toEtcd, the etcd version of the image it is to come back on, it also
// checks that etcd allows this member to move to that version now (etcdversion.Check).
func (n *Node) UpgradeCheck(ctx context.Context, toEtcd string, w io.Writer) error {
	s := n.State
	if toEtcd != "" {
		if _, err := etcdversion.Parse(toEtcd); err != nil {
			return fmt.Errorf("--to-etcd: %w", err)
		}
	}
	v, err := n.view(ctx)
	if err != nil {
		return fmt.Errorf("not safe to take %s down: %w", s.Member, err)
	}
	if !v.inList {
		fmt.Fprintf(w, "ok: %s is not a member of the cluster; taking it down changes nothing\n", s.Member)
		return nil
	}
	if !v.health[v.self.ID] {
		fmt.Fprintf(w, "note: %s itself is not healthy now\n", s.Member)
	}
	if toEtcd != "" {
		if err := n.versionCheck(ctx, v, toEtcd, w); err != nil {
			return fmt.Errorf("not safe to take %s to etcd %s: %w", s.Member, toEtcd, err)
		}
	}
	if err := membership.CheckDown(v.members, v.health, v.self.ID); err != nil {
		return fmt.Errorf("not safe to take %s down now: %w", s.Member, err)
	}
	voters := membership.Voters(v.members)
	up := 0
	for _, m := range voters {
		if m.ID != v.self.ID && v.health[m.ID] {
			up++
		}
	}
	fmt.Fprintf(w, "ok: %s may go down now: %d of %d voting members stay healthy (quorum %d)\n", s.Member, up, len(voters), membership.Quorum(len(voters)))
	return nil
}

// versionCheck prints what etcdversion.Check decides for moving this member to target, from
// the members' statuses in v and the cluster version.
func (n *Node) versionCheck(ctx context.Context, v *view, target string, w io.Writer) error {
	cv, err := n.clusterVersion(ctx, v)
	if err != nil {
		return err
	}
	roll := etcdversion.Roll{Cluster: cv, Target: target}
	for _, m := range v.members {
		em := etcdversion.Member{Name: m.Label(), Self: m.ID == v.self.ID, Healthy: v.health[m.ID]}
		if r := v.statuses[m.ID]; r != nil {
			em.Server, em.Storage = r.Version, r.StorageVersion
			if d := r.DowngradeInfo; d != nil && d.Enabled {
				em.Downgrade = d.TargetVersion
			}
		}
		roll.Members = append(roll.Members, em)
	}
	lines, err := etcdversion.Check(roll)
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	return err
}

// clusterVersion asks the members that answered in v, this one (locally) first, for the
// cluster version until one tells it: every member serves the same.
func (n *Node) clusterVersion(ctx context.Context, v *view) (string, error) {
	cli, err := n.Dial()
	if err != nil {
		return "", err
	}
	defer cli.Close()
	ms := askSelfLocally(v.members, v.self.ID, n.State.Local)
	if i := slices.IndexFunc(ms, func(m membership.Member) bool { return m.ID == v.self.ID }); i > 0 {
		ms = slices.Concat(ms[i:i+1], ms[:i], ms[i+1:])
	}
	var errs []error
	for _, m := range ms {
		if v.statuses[m.ID] == nil {
			continue
		}
		for _, u := range m.ClientURLs {
			vctx, cancel := context.WithTimeout(ctx, statusTimeout)
			vs, err := cli.Versions(vctx, u)
			cancel()
			if err == nil {
				return vs.Cluster, nil
			}
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return "", errors.New("reading the cluster version: no member answered")
	}
	return "", fmt.Errorf("reading the cluster version: %w", errors.Join(errs...))
}

// Leave removes this node's member from the cluster, wipes its member data and keeps etcd
// off. It refuses when the remaining members would not have a healthy quorum, or when this is
// the last member, unless forced.
func (n *Node) Leave(ctx context.Context, force bool, w io.Writer) error {
	s := n.State
	v, err := n.view(ctx)
	if err != nil {
		return fmt.Errorf("cannot leave: %w", err)
	}
	if !v.inList {
		return fmt.Errorf("cannot leave: the cluster does not list member %s (%s)", s.Member, s.PeerURL)
	}
	last := len(membership.Voters(v.members)) == 1 && !v.self.Learner
	if err := membership.CheckRemove(v.members, v.health, v.self.ID); err != nil {
		if !force {
			return fmt.Errorf("refusing to leave: %w; --force leaves anyway", err)
		}
		fmt.Fprintf(w, "leaving anyway (--force): %v\n", err)
	}
	// removed while it still runs: the removal is committed by the voters as they are now.
	// The last member cannot be removed; its data is wiped below all the same.
	if !last {
		var others []string
		for _, m := range membership.Voters(v.members) {
			if m.ID != v.self.ID {
				others = append(others, m.ClientURLs...)
			}
		}
		cli, err := n.Dial(others...)
		if err != nil {
			return err
		}
		defer cli.Close()
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := cli.Remove(rctx, v.self.ID); err != nil {
			return fmt.Errorf("cannot leave: %w; etcd still runs here (a removal that timed out may still have been applied: check `etcdctl member list`)", err)
		}
	}
	// recorded before the data goes: a crash from here on leaves a node that stays out
	id, err := datavol.ReadIdentity(s.Volume)
	if err == nil && id == nil {
		err = errors.New("the volume has no identity record")
	}
	if err != nil {
		return fmt.Errorf("recording the leave on the data volume: %w", err)
	}
	now := n.Now().UTC()
	id.Left = &now
	if err := datavol.WriteIdentity(s.Volume, id); err != nil {
		return err
	}
	// no etcd.env: etcd.service is not started again (its condition), also not by Restart=
	_ = os.Remove(filepath.Join(n.RunDir, "etcd.env"))
	if err := n.StopEtcd(ctx); err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(s.DataDir, "member")); err != nil {
		return fmt.Errorf("wiping the member data: %w", err)
	}
	fmt.Fprintf(w, "left: member %s (%s) is removed from the cluster and its data wiped; etcd stays off on this node. Delete the machine, or boot it on a blank data disk to join again.\n", s.Member, membership.IDString(v.self.ID))
	return nil
}

// RemoveMember removes another member by name (or ID), for a machine that is gone. A member
// that still answers is removed only when forced: `leave` on that node is the clean way.
func (n *Node) RemoveMember(ctx context.Context, name string, force bool, w io.Writer) error {
	if name == n.State.Member {
		return errors.New("that is this node's member: use `firstboot leave` on it")
	}
	v, err := n.view(ctx)
	if err != nil {
		return fmt.Errorf("cannot remove %s: %w", name, err)
	}
	m, ok := membership.ByName(v.members, name)
	if !ok {
		var names []string
		for _, m := range v.members {
			names = append(names, m.Label())
		}
		return fmt.Errorf("the cluster has no member %q; its members are %s", name, strings.Join(names, ", "))
	}
	if err := membership.CheckRemove(v.members, v.health, m.ID); err != nil && !force {
		return fmt.Errorf("refusing to remove %s: %w; --force removes it anyway", name, err)
	}
	if v.health[m.ID] && !force {
		return fmt.Errorf("refusing to remove %s: it is healthy; run `firstboot leave` on it, or give --force", name)
	}
	cli, err := n.Dial()
	if err != nil {
		return err
	}
	defer cli.Close()
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := cli.Remove(rctx, m.ID); err != nil {
		return err
	}
	fmt.Fprintf(w, "removed member %s (%s)\n", m.Label(), membership.IDString(m.ID))
	return nil
}
