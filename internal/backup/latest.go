package backup

import (
	"context"
	"fmt"
	"strings"

	"github.com/etcd-appliance/appliance/internal/objstore"
)

// Latest is the newest backup in st (by the time and revision in its key) whose metadata
// parses and agrees with its key. Backups skipped on the way are reported to skipped (may be
// nil) with the reason, so the caller can log that the newest backups are unusable; a failure
// to reach the store is not a reason to skip, and ends the search. With no usable backup the
// error is a *NoBackupError, which lists the reasons too.
func Latest(ctx context.Context, st objstore.Store, skipped func(key string, reason error)) (objstore.Object, Meta, error) {
	objs, err := st.List(ctx)
	if err != nil {
		return objstore.Object{}, Meta{}, err // the store's errors name it
	}
	bs := backups(objs)
	nb := &NoBackupError{Store: st.String(), Objects: len(objs)}
	for _, b := range bs {
		o, err := st.Stat(ctx, b.obj.Key)
		if err != nil {
			return objstore.Object{}, Meta{}, err
		}
		m, err := metaFor(b, o.Meta)
		if err != nil {
			nb.Skipped = append(nb.Skipped, fmt.Errorf("%s: %w", b.obj.Key, err))
			if skipped != nil {
				skipped(b.obj.Key, err)
			}
			continue
		}
		return o, m, nil
	}
	return objstore.Object{}, Meta{}, nb
}

// metaFor parses a backup's metadata and checks it against its key: a renamed object would
// otherwise restore some other revision than its name says.
func metaFor(b parsed, md map[string]string) (Meta, error) {
	m, err := ParseMeta(md)
	if err != nil {
		return m, err
	}
	switch {
	case m.Revision != b.rev:
		return m, fmt.Errorf("metadata revision %d, but the key says %d", m.Revision, b.rev)
	case m.Encrypted != b.encrypted:
		return m, fmt.Errorf("metadata says encrypted=%t, but the key says %t", m.Encrypted, b.encrypted)
	}
	return m, nil
}

// NoBackupError is a store with no usable backup.
type NoBackupError struct {
	Store   string  // the store's URL
	Objects int     // objects under the prefix
	Skipped []error // backups whose metadata was unusable, newest first
}

func (e *NoBackupError) Error() string {
	switch {
	case len(e.Skipped) > 0:
		reasons := make([]string, len(e.Skipped))
		for i, err := range e.Skipped {
			reasons[i] = err.Error()
		}
		return fmt.Sprintf("no backup under %s: %d with unusable metadata: %s", e.Store, len(e.Skipped), strings.Join(reasons, "; "))
	case e.Objects > 0:
		return fmt.Sprintf("no backup under %s: %d objects, none named like a backup (CLUSTER-YYYYMMDDTHHMMSSZ-rREV.db[.age])", e.Store, e.Objects)
	default:
		return fmt.Sprintf("no backup under %s: it is empty; check the bucket and prefix", e.Store)
	}
}

// where is a key's URL, for errors.
func where(st objstore.Store, key string) string {
	return strings.TrimSuffix(st.String(), "/") + "/" + key
}

// Find is the newest backup in st whose snapshot has sha256 sum (a restore pinned with
// restore.sha256), so that every member of a new cluster restores the same one however many
// backups arrive meanwhile.
func Find(ctx context.Context, st objstore.Store, sum string) (objstore.Object, Meta, error) {
	objs, err := st.List(ctx)
	if err != nil {
		return objstore.Object{}, Meta{}, err
	}
	for _, b := range backups(objs) {
		o, err := st.Stat(ctx, b.obj.Key)
		if err != nil {
			return objstore.Object{}, Meta{}, err
		}
		if m, err := metaFor(b, o.Meta); err == nil && m.SHA256 == sum {
			return o, m, nil
		}
	}
	return objstore.Object{}, Meta{}, fmt.Errorf("no backup under %s has sha256 %s: give the sha256 of one listed by firstboot backup list, or leave restore.sha256 out for the latest", st, sum)
}
