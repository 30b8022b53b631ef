package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/etcd-appliance/appliance/config"
	"github.com/etcd-appliance/appliance/internal/backup"
	"github.com/etcd-appliance/appliance/internal/fetch"
	"github.com/etcd-appliance/appliance/internal/nodestate"
	"github.com/etcd-appliance/appliance/internal/objstore"
	"github.com/etcd-appliance/appliance/internal/status"
)

// checkStoreRestore finds the backup to restore and reads it through once, decrypting it
// and checking its sha256, before any disk is changed: a bad object, a wrong identity or a
// store that refuses is told with nothing written. The object is read again onto the data
// volume (stageStoreRestore): reading it twice keeps the snapshot out of memory, so a restore
// is bounded by the volume, not by RAM.
func (b *boot) checkStoreRestore(ctx context.Context, r config.Restore) (*backup.Source, error) {
	storeURL, key := backup.SplitURL(r.Source)
	acc, err := nodestate.NewBackup(b.c.Backup, b.r.Platform, b.r.Trust).Access(storeURL)
	if err != nil {
		return nil, err
	}
	st, err := objstore.Open(acc)
	if err != nil {
		return nil, fmt.Errorf("restore.source: %w", err)
	}
	src := &backup.Source{Store: st, Key: key}
	if r.AgeIdentity != "" {
		if src.IDs, err = backup.ParseIdentity(r.AgeIdentity); err != nil {
			return nil, err
		}
	}
	switch {
	case key == "" && r.SHA256 != "":
		// pinned: every member of the new cluster restores this one, whatever arrives meanwhile
		o, _, err := backup.Find(ctx, st, r.SHA256)
		if err != nil {
			return nil, fmt.Errorf("restore.sha256: %w%s", err, untrustedHint(err))
		}
		src.Key = o.Key
	case key == "":
		o, _, err := backup.Latest(ctx, st, func(k string, why error) {
			b.say("restore: skipping %s/%s: %v", st, k, why)
		})
		if err != nil {
			return nil, fmt.Errorf("restore.source: %w%s", err, untrustedHint(err))
		}
		src.Key = o.Key
	}
	b.say("restore: checking %s (decrypting and hashing it; nothing is written yet)", src)
	if err := src.Check(ctx); err != nil {
		return nil, fmt.Errorf("restore.source: %w%s", err, untrustedHint(err))
	}
	if r.SHA256 != "" && src.Meta.SHA256 != r.SHA256 {
		return nil, fmt.Errorf("restore.sha256: %s holds a snapshot with sha256 %s, not %s; nothing was restored", src, src.Meta.SHA256, r.SHA256)
	}
	if b.c.Cluster.Name != "" && src.Meta.Cluster != "" && src.Meta.Cluster != b.c.Cluster.Name {
		b.say("restore: %s is a backup of cluster %s; it seeds cluster %s", src, src.Meta.Cluster, b.c.Cluster.Name)
	}
	b.say("restore: %s is good: revision %d, %s, taken %s by %s", src, src.Meta.Revision, status.Size(src.Meta.Size), src.Meta.Time.Format("2006-01-02 15:04:05Z"), src.Meta.Member)
	return src, nil
}

// stageStoreRestore reads the checked backup again into the data volume, checking it again
// (the store could have changed in between), and returns the snapshot's path. On any error
// the staged file is removed: the volume holds no member data.
func (b *boot) stageStoreRestore(ctx context.Context, src *backup.Source) (string, error) {
	room, err := freeBytes(b.Paths.DataDir)
	if err != nil {
		return "", err
	}
	// the snapshot and etcdutl's restored copy of it are on the volume at once
	if need := 2*src.Meta.Size + 64<<20; room < need {
		return "", fmt.Errorf("restore.source %s: the snapshot is %s; restoring it takes %s of the data volume, which has %s free: give this node a larger data disk", src, status.Size(src.Meta.Size), status.Size(need), status.Size(room))
	}
	p := filepath.Join(b.Paths.DataDir, "restore.db")
	if err := src.SaveTo(ctx, p); err != nil {
		return "", fmt.Errorf("restore.source: %w", err)
	}
	b.release = append(b.release, func() { os.Remove(p) })
	return p, nil
}

// untrustedHint is what to do about a store whose certificate chains to no trusted root.
func untrustedHint(err error) string {
	if !fetch.UnknownAuthority(err) {
		return ""
	}
	return ": add the CA that signed the store's certificate to trust.ca_certs"
}
