package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/etcd-appliance/appliance/internal/membership"
	"github.com/etcd-appliance/appliance/internal/snapshot"
	"github.com/etcd-appliance/appliance/internal/status"
)

// Snapshot saves a consistent snapshot from this node's member with a JSON sidecar into out
// (default: snapshots/ on the data volume) and prints the sidecar. With out "-" the snapshot
// goes to stdout and the sidecar to stderr, for `ssh node firstboot snapshot --out - > etcd.db`.
func (n *Node) Snapshot(ctx context.Context, out string, stdout, stderr io.Writer) error {
	dir := out
	if dir == "" || dir == "-" {
		dir = filepath.Join(n.State.Volume, "snapshots")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	sc, path, err := n.save(ctx, dir, out == "-")
	if err != nil {
		return err
	}
	b, _ := json.MarshalIndent(sc, "", "  ")
	if out != "-" {
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
func (n *Node) roomForSnapshot(dir string, dbSize int64, transient bool) error {
	s := n.State
	if !n.SameFS(s.Volume, dir) {
		return nil
	}
	_, free, err := n.Usage(dir)
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

// save streams a snapshot from the local member into dir and describes it. transient: it is
// deleted once streamed (--out -).
func (n *Node) save(ctx context.Context, dir string, transient bool) (*snapshot.Sidecar, string, error) {
	s := n.State
	cli, err := n.Dial(s.Local)
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
	if err := n.roomForSnapshot(dir, st.DbSize, transient); err != nil {
		return nil, "", err
	}
	now := n.Now().UTC()
	name := s.Member
	if s.Cluster != "" {
		name = s.Cluster + "-" + name
	}
	path := filepath.Join(dir, fmt.Sprintf("%s-%s.db", name, now.Format("20060102T150405Z")))
	tmp := path + ".part"
	version, err := n.Save(ctx, s.Local, tmp)
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
	desc, err := n.Describe(ctx, path)
	if err != nil {
		os.Remove(path)
		return nil, "", err
	}
	return &snapshot.Sidecar{File: filepath.Base(path), SHA256: sum, Size: size, Revision: desc.Revision, Keys: desc.TotalKey,
		Time: now, Cluster: s.Cluster, Member: s.Member, EtcdVersion: version, Image: s.Image,
		ClusterID: membership.IDString(st.Header.ClusterId), MemberID: membership.IDString(st.Header.MemberId)}, path, nil
}
