package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/dbus"
	clientv3 "go.etcd.io/etcd/client/v3"
	clientsnap "go.etcd.io/etcd/client/v3/snapshot"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/etcd-appliance/appliance/internal/datavol"
	"github.com/etcd-appliance/appliance/internal/membership"
	"github.com/etcd-appliance/appliance/internal/snapshot"
	"github.com/etcd-appliance/appliance/internal/status"
)

// clusterView is the member list and who answered, as seen through the configured members.
type clusterView struct {
	members []membership.Member
	health  membership.Health
	self    membership.Member
	inList  bool
}

func viewCluster(ctx context.Context, s nodeState) (*clusterView, error) {
	cli, err := s.client()
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	lctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	ms, err := cli.Members(lctx)
	if err != nil {
		return nil, fmt.Errorf("%w (the cluster needs a quorum to answer)", err)
	}
	v := &clusterView{members: ms, health: membership.HealthOf(cli.Statuses(ctx, ms, 5*time.Second))}
	v.self, v.inList = membership.Find(ms, s.self())
	return v, nil
}

// upgradeCheck tells whether this node may go down now (reboot, reimage) without the cluster
// losing its quorum.
func upgradeCheck(ctx context.Context, runDir string, w io.Writer) error {
	s, err := readNodeState(runDir)
	if err != nil {
		return err
	}
	v, err := viewCluster(ctx, s)
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

// leave removes this node's member from the cluster, wipes its member data and keeps etcd
// off. It refuses when the remaining members would not have a healthy quorum, or when this is
// the last member, unless forced.
func leave(ctx context.Context, args []string, runDir string, w io.Writer) error {
	fs := flag.NewFlagSet("leave", flag.ContinueOnError)
	force := fs.Bool("force", false, "leave even if the rest of the cluster would lose its quorum, or this is the last member")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := readNodeState(runDir)
	if err != nil {
		return err
	}
	v, err := viewCluster(ctx, s)
	if err != nil {
		return fmt.Errorf("cannot leave: %w", err)
	}
	if !v.inList {
		return fmt.Errorf("cannot leave: the cluster does not list member %s (%s)", s.Member, s.PeerURL)
	}
	last := len(membership.Voters(v.members)) == 1 && !v.self.Learner
	if err := membership.CheckRemove(v.members, v.health, v.self.ID); err != nil {
		if !*force {
			return fmt.Errorf("refusing to leave: %w; --force leaves anyway", err)
		}
		fmt.Fprintf(w, "leaving anyway (--force): %v\n", err)
	}
	// removed while it still runs: the removal is committed by the voters as they are now
	if !last {
		var others []string
		for _, m := range membership.Voters(v.members) {
			if m.ID != v.self.ID {
				others = append(others, m.ClientURLs...)
			}
		}
		cli, err := s.client(others...)
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
	now := time.Now().UTC()
	id.Left = &now
	if err := datavol.WriteIdentity(s.Volume, id); err != nil {
		return err
	}
	// no etcd.env: etcd.service is not started again (its condition), also not by Restart=
	_ = os.Remove(filepath.Join(runDir, "etcd.env"))
	if err := systemdUnit(ctx, "etcd.service", false); err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(s.DataDir, "member")); err != nil {
		return fmt.Errorf("wiping the member data: %w", err)
	}
	fmt.Fprintf(w, "left: member %s (%s) is removed from the cluster and its data wiped; etcd stays off on this node. Delete the machine, or boot it on a blank data disk to join again.\n", s.Member, membership.IDString(v.self.ID))
	return nil
}

// removeMember removes another member by name (or ID), for a machine that is gone. A member
// that still answers is removed only with --force: `leave` on that node is the clean way.
func removeMember(ctx context.Context, args []string, runDir string, w io.Writer) error {
	fs := flag.NewFlagSet("remove-member", flag.ContinueOnError)
	force := fs.Bool("force", false, "remove it even if it is healthy or the cluster would lose its quorum")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: firstboot remove-member [--force] NAME")
	}
	name := fs.Arg(0)
	s, err := readNodeState(runDir)
	if err != nil {
		return err
	}
	if name == s.Member {
		return errors.New("that is this node's member: use `firstboot leave` on it")
	}
	v, err := viewCluster(ctx, s)
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
	if err := membership.CheckRemove(v.members, v.health, m.ID); err != nil && !*force {
		return fmt.Errorf("refusing to remove %s: %w; --force removes it anyway", name, err)
	}
	if v.health[m.ID] && !*force {
		return fmt.Errorf("refusing to remove %s: it is healthy; run `firstboot leave` on it, or give --force", name)
	}
	cli, err := s.client()
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

// systemdUnit starts or stops a unit and waits for the job.
func systemdUnit(ctx context.Context, name string, start bool) error {
	conn, err := dbus.NewSystemdConnectionContext(ctx)
	if err != nil {
		return fmt.Errorf("connecting to systemd: %w", err)
	}
	defer conn.Close()
	done := make(chan string, 1)
	if start {
		_, err = conn.StartUnitContext(ctx, name, "replace", done)
	} else {
		_, err = conn.StopUnitContext(ctx, name, "replace", done)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	select {
	case r := <-done:
		if r != "done" {
			return fmt.Errorf("%s: job %s", name, r)
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// snapshotCmd saves a consistent snapshot from this node's member with a JSON sidecar. With
// --out - the snapshot goes to standard output and the sidecar to standard error, for
// `ssh node firstboot snapshot --out - > etcd.db`.
func snapshotCmd(ctx context.Context, args []string, runDir string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("snapshot", flag.ContinueOnError)
	out := fs.String("out", "", "directory for NAME.db and NAME.json (default: snapshots/ on the data volume), or - for standard output")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := readNodeState(runDir)
	if err != nil {
		return err
	}
	dir := *out
	if dir == "" || dir == "-" {
		dir = filepath.Join(s.Volume, "snapshots")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	sc, path, err := saveSnapshot(ctx, s, dir, *out == "-")
	if err != nil {
		return err
	}
	b, _ := json.MarshalIndent(sc, "", "  ")
	if *out != "-" {
		if _, err := snapshot.WriteSidecar(path, *sc); err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	defer os.Remove(path)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(stdout, f); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stderr, "%s\n", b)
	return err
}

// snapshotHeadroom is the space a snapshot on the data volume leaves free beyond the room etcd
// may still grow into (up to its quota).
const snapshotHeadroom = 64 << 20

// roomForSnapshot refuses a snapshot of a dbSize database that would eat into the room etcd may
// still grow into on the data volume: etcd stops on a full disk, and a snapshot is the
// database's size. A transient one (staged for --out -, deleted once streamed) needs only its
// own size and the headroom. Directories on other filesystems are left to the write.
func roomForSnapshot(s nodeState, dir string, dbSize int64, transient bool) error {
	var vst, dst unix.Stat_t
	if unix.Stat(s.Volume, &vst) != nil || unix.Stat(dir, &dst) != nil || vst.Dev != dst.Dev {
		return nil
	}
	_, free, err := datavol.Usage(dir)
	if err != nil {
		return err
	}
	need, why, fix := max(s.Quota, dbSize)+snapshotHeadroom, // the snapshot (db size), then etcd's room to its quota
		fmt.Sprintf("the %s database, the room etcd may still grow into up to its %s quota, and %s", status.Size(dbSize), status.Size(s.Quota), status.Size(snapshotHeadroom)),
		", or give --out a directory on another filesystem"
	if transient {
		need, why, fix = dbSize+snapshotHeadroom, fmt.Sprintf("the %s database while it streams, and %s", status.Size(dbSize), status.Size(snapshotHeadroom)), ""
	}
	if free < need {
		return fmt.Errorf("not enough room on the data volume for a snapshot: %s free, %s needed (%s): delete old snapshots from %s%s",
			status.Size(free), status.Size(need), why, filepath.Join(s.Volume, "snapshots"), fix)
	}
	return nil
}

// saveSnapshot streams a snapshot from the local member into dir and describes it. transient:
// it is deleted once streamed (--out -).
func saveSnapshot(ctx context.Context, s nodeState, dir string, transient bool) (*snapshot.Sidecar, string, error) {
	tc, err := s.tlsConfig()
	if err != nil {
		return nil, "", err
	}
	cli, err := s.client(s.Local)
	if err != nil {
		return nil, "", err
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	st, err := cli.Status(sctx, s.Local)
	cancel()
	cli.Close()
	if err != nil {
		return nil, "", fmt.Errorf("asking %s for its database size: %w", s.Local, err)
	}
	if err := roomForSnapshot(s, dir, st.DbSize, transient); err != nil {
		return nil, "", err
	}
	now := time.Now().UTC()
	name := s.Member
	if s.Cluster != "" {
		name = s.Cluster + "-" + name
	}
	path := filepath.Join(dir, fmt.Sprintf("%s-%s.db", name, now.Format("20060102T150405Z")))
	tmp := path + ".part"
	cfg := clientv3.Config{Endpoints: []string{s.Local}, TLS: tc, DialTimeout: 10 * time.Second, Logger: zap.NewNop()}
	version, err := clientsnap.SaveWithVersion(ctx, zap.NewNop(), cfg, tmp)
	if err != nil {
		os.Remove(tmp)
		return nil, "", fmt.Errorf("saving a snapshot from %s: %w", s.Local, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, "", err
	}
	sum, size, err := snapshot.FileSHA256(path)
	if err != nil {
		return nil, "", err
	}
	desc, err := snapshot.Describe(ctx, "etcdutl", path)
	if err != nil {
		os.Remove(path)
		return nil, "", err
	}
	return &snapshot.Sidecar{File: filepath.Base(path), SHA256: sum, Size: size, Revision: desc.Revision, Keys: desc.TotalKey,
		Time: now, Cluster: s.Cluster, Member: s.Member, EtcdVersion: version, Image: s.Image,
		ClusterID: membership.IDString(st.Header.ClusterId), MemberID: membership.IDString(st.Header.MemberId)}, path, nil
}
