package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The storage version etcd v3.6 and later record in their backend database (v3.5 records
// none): bucket "meta", key "storageVersion", a value like "3.7.0".
var (
	metaBucket        = []byte("meta")
	storageVersionKey = []byte("storageVersion")
)

// dbOpenTimeout bounds waiting for the database's file lock: at boot nothing else holds it,
// so a held lock is an etcd still running (or a stray etcdutl), and is reported, not waited on.
const dbOpenTimeout = 2 * time.Second

// readStorageVersion is the storage version recorded in the etcd database at db, read-only:
// "" when there is no database or it records none.
func readStorageVersion(db string) (string, error) {
	if fi, err := os.Stat(db); errors.Is(err, os.ErrNotExist) {
		return "", nil
	} else if err != nil {
		return "", err
	} else if fi.Size() == 0 {
		return "", nil // a crash while etcd created it: bbolt cannot open it read-only; etcd judges
	}
	d, err := bolt.Open(db, 0o600, &bolt.Options{ReadOnly: true, Timeout: dbOpenTimeout})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return "", fmt.Errorf("reading the storage version of %s: another process holds its lock (is etcd running?)", db)
		}
		return "", fmt.Errorf("reading the storage version of %s: %w", db, err)
	}
	defer d.Close()
	var v string
	err = d.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(metaBucket); b != nil {
			v = string(b.Get(storageVersionKey)) // copied: the slice is only valid in the tx
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("reading the storage version of %s: %w", db, err)
	}
	return v, nil
}

// majorMinor is the "X.Y" of a version such as "v3.6.16", "3.7.0" or "3.6".
func majorMinor(v string) (major, minor int, ok bool) {
	parts := strings.SplitN(strings.TrimPrefix(strings.TrimSpace(v), "v"), ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	maj, err1 := strconv.Atoi(parts[0])
	mnr, err2 := strconv.Atoi(parts[1])
	return maj, mnr, err1 == nil && err2 == nil
}

// storageRefusal is why etcd etcdVersion (this image's, "v3.6.16") must not start on data of
// storage version storage ("3.7.0"; "" for none): data written by a newer minor, which etcd
// would refuse or, worse, misread. "" when it may start: no version recorded (v3.5's data, or
// no data), the same or an older minor. An unreadable version of either passes too: the check
// guards a downgrade, and etcd itself judges what it cannot parse.
func storageRefusal(etcdVersion, storage string) string {
	if storage == "" {
		return ""
	}
	emaj, emin, ok1 := majorMinor(etcdVersion)
	smaj, smin, ok2 := majorMinor(storage)
	if !ok1 || !ok2 || smaj < emaj || (smaj == emaj && smin <= emin) {
		return ""
	}
	next := fmt.Sprintf("%d.%d", smaj, smin-1) // etcd downgrades one minor at a time
	if smin == 0 {
		next = fmt.Sprintf("%d.%d", emaj, emin) // across a major: etcd has no path; name the image's
	}
	newer := fmt.Sprintf("%d.%d", smaj, smin)
	why := fmt.Sprintf("refusing to start etcd %s: the data on this volume has storage version %s (written by etcd %s). "+
		"To downgrade, boot the v%s image again, run 'firstboot downgrade enable v%s' on the cluster and wait until this member's storage version is %s ('firstboot downgrade status'), then reimage.",
		etcdVersion, newer, newer, newer, next, next)
	if mine := fmt.Sprintf("%d.%d", emaj, emin); next != mine {
		why += fmt.Sprintf(" etcd downgrades one minor at a time: reimage to the v%s image, and repeat down to v%s.", next, mine)
	}
	return why
}

// checkStorage refuses to start this image's etcd on data a newer etcd wrote and has not
// migrated down (etcd's downgrade does that before a member's binary is replaced). It only
// reads: the database is opened read-only, and etcd is not running yet.
func (b *boot) checkStorage(context.Context) error {
	etcdVersion := osReleaseFields(b.rel)["ETCD_VERSION"]
	if etcdVersion == "" {
		return nil // not an image (a test without os-release): nothing to compare with
	}
	v, err := readStorageVersion(filepath.Join(b.dataDir(), "member", "snap", "db"))
	if err != nil {
		return b.refuse("data", err.Error())
	}
	if why := storageRefusal(etcdVersion, v); why != "" {
		b.say("%s", why)
		return b.stop("data")
	}
	return nil
}
