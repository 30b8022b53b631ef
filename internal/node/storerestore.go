package node

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/etcd-appliance/appliance/config"
	"github.com/etcd-appliance/appliance/internal/backup"
	"github.com/etcd-appliance/appliance/internal/fetch"
	"github.com/etcd-appliance/appliance/internal/nodeconfig"
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
	b.waitResolvable(ctx, storeHost(acc, b.r.Trust))
	src := &backup.Source{Store: st, Key: key}
	if r.AgeIdentity != "" {
		if src.IDs, err = backup.ParseIdentity(r.AgeIdentity); err != nil {
			return nil, err
		}
	}
	// pinned by restore.sha256, every member of the new cluster restores the same backup,
	// whatever arrives meanwhile
	if err := src.Pick(ctx, r.SHA256, func(k string, why error) { b.say("restore: skipping %s/%s: %v", st, k, why) }); err != nil {
		field := "restore.source"
		if r.SHA256 != "" {
			field = "restore.sha256"
		}
		return nil, fmt.Errorf("%s: %w%s", field, err, untrustedHint(err))
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

// nameWait bounds the wait for a restore's server name to resolve.
const nameWait = 2 * time.Minute

// waitResolvable waits, up to nameWait, until host resolves: firstboot starts before the
// resolver and the DNS servers DHCP hands out may be in place. An IP address, or a name that
// never resolves, returns at once or at the bound; the fetch then says what is wrong.
func (b *boot) waitResolvable(ctx context.Context, host string) {
	if host == "" {
		return
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, nameWait)
	defer cancel()
	var said time.Time
	for {
		lctx, lcancel := context.WithTimeout(ctx, 3*time.Second)
		_, err := b.lookup(lctx, host)
		lcancel()
		if err == nil {
			return
		}
		if time.Since(said) >= 15*time.Second {
			b.say("restore: waiting up to %s for %s to resolve: %v", nameWait, host, err)
			said = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// storeHost is the host a store's requests go to first: the proxy's, or the endpoint's, or
// AWS's regional endpoint.
func storeHost(acc objstore.Access, t fetch.Trust) string {
	if t.Proxy != nil {
		return t.Proxy.Hostname()
	}
	if acc.Endpoint != "" {
		if u, err := url.Parse(acc.Endpoint); err == nil {
			return u.Hostname()
		}
		return ""
	}
	return "s3." + cmp.Or(acc.Region, "us-east-1") + ".amazonaws.com"
}

// lookup resolves host as the configuration's member names are (nodeconfig.Options.Lookup).
func (b *boot) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if b.Resolve.Lookup != nil {
		return b.Resolve.Lookup(ctx, host)
	}
	return nodeconfig.LookupHost(ctx, host)
}
