package ops

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/etcd-appliance/appliance/internal/snapshot"
)

// scheduledDir holds the agent's scheduled snapshots on the data volume, apart from the ones
// an operator takes with `firstboot snapshot`, which retention never deletes.
func scheduledDir(volume string) string { return filepath.Join(volume, "snapshots", "scheduled") }

// snapshotDue tells whether the newest scheduled snapshot in dir is older than interval.
func snapshotDue(dir string, interval time.Duration, now time.Time) bool {
	dbs, _ := filepath.Glob(filepath.Join(dir, "*.db"))
	var newest time.Time
	for _, p := range dbs {
		if fi, err := os.Stat(p); err == nil && fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
	}
	return now.Sub(newest) >= interval
}

// expired are the snapshots beyond the newest keep (names sort by time).
func expired(names []string, keep int) []string {
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	if len(sorted) <= keep {
		return nil
	}
	return sorted[:len(sorted)-keep]
}

// snapshotRetry spaces the tries after a scheduled snapshot failed (no room, say), so that the
// console gets a line every few minutes rather than at every check.
const snapshotRetry = 5 * time.Minute

// scheduledSnapshot takes a snapshot when one is due and deletes those beyond SnapshotKeep.
func (a *agent) scheduledSnapshot(ctx context.Context, now time.Time) {
	n, s := a.n, a.n.State
	if s.SnapshotMinutes <= 0 {
		return
	}
	dir := scheduledDir(s.Volume)
	if now.Sub(a.snapshotFailed) < snapshotRetry || !snapshotDue(dir, time.Duration(s.SnapshotMinutes)*time.Minute, now) {
		return
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		fmt.Fprintf(n.Console, "etcd-appliance: snapshot: %v\n", err)
		return
	}
	// Make room first: the new one counts towards keep. With keep 1 the old one stays until the
	// new one is made, as it is the only one.
	prune(dir, max(s.SnapshotKeep-1, 1))
	sc, path, err := n.save(ctx, dir, false)
	if err == nil {
		_, err = snapshot.WriteSidecar(path, *sc)
	}
	if err != nil {
		fmt.Fprintf(n.Console, "etcd-appliance: snapshot: scheduled snapshot failed (next try in %s): %v\n", snapshotRetry, err)
		a.snapshotFailed = now
		return
	}
	fmt.Fprintf(n.Console, "etcd-appliance: snapshot: %s (revision %d, %d bytes, sha256 %s)\n", path, sc.Revision, sc.Size, sc.SHA256)
	prune(dir, s.SnapshotKeep)
}

// prune deletes the scheduled snapshots in dir beyond the newest keep, with their sidecars.
func prune(dir string, keep int) {
	dbs, _ := filepath.Glob(filepath.Join(dir, "*.db"))
	for _, old := range expired(dbs, keep) {
		os.Remove(old)
		os.Remove(strings.TrimSuffix(old, ".db") + ".json")
	}
}
