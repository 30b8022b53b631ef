package backup

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// keyTime is fixed-width, so for one cluster name the keys sort by time: a plain List is
// already in backup order.
const keyTime = "20060102T150405Z"

// keyRE is a backup's key: CLUSTER-TIME-rREVISION.db, .db.age when encrypted. Anything else
// under the prefix is not a backup and is left alone.
var keyRE = regexp.MustCompile(`^[A-Za-z0-9._-]+-([0-9]{8}T[0-9]{6}Z)-r([1-9][0-9]*)\.db(\.age)?$`)

// Key is the object key for the backup m describes: e.g. prod-20261204T051500Z-r8812.db, or
// .db.age when encrypted. Without a cluster name it starts with "etcd". The time is to the
// second in UTC.
func Key(m Meta) string {
	name := m.Cluster
	if name == "" {
		name = "etcd"
	}
	// config allows only DNS labels, but a key must never gain a '/' or anything the
	// pattern refuses, or the backup would be invisible to Latest and Expired
	name = strings.Map(func(r rune) rune {
		if r < 0x80 && (r == '.' || r == '_' || r == '-' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return r
		}
		return '_'
	}, name)
	k := name + "-" + m.Time.UTC().Format(keyTime) + "-r" + strconv.FormatInt(m.Revision, 10) + ".db"
	if m.Encrypted {
		k += ".age"
	}
	return k
}

// ParseKey reads the time (UTC, to the second), revision and encryption from a key made by
// Key; ok is false for any other key.
func ParseKey(key string) (t time.Time, revision int64, encrypted bool, ok bool) {
	sub := keyRE.FindStringSubmatch(key)
	if sub == nil {
		return time.Time{}, 0, false, false
	}
	t, err := time.Parse(keyTime, sub[1])
	if err != nil { // e.g. month 13
		return time.Time{}, 0, false, false
	}
	revision, err = strconv.ParseInt(sub[2], 10, 64)
	if err != nil {
		return time.Time{}, 0, false, false
	}
	return t, revision, sub[3] != "", true
}

// SplitURL is the store URL and object key of a restore or recovery source: a last segment
// that is a backup key, or any object ending in .db or .db.age (a backup renamed by hand), is
// that object; anything else is a prefix, whose latest backup is meant (key "").
func SplitURL(src string) (storeURL, key string) {
	src = strings.TrimRight(src, "/")
	i := strings.LastIndex(src, "/")
	if i < 0 || strings.HasSuffix(src[:i], ":/") { // s3://bucket: no prefix
		return src, ""
	}
	last := src[i+1:]
	if _, _, _, ok := ParseKey(last); ok || strings.HasSuffix(last, ".db") || strings.HasSuffix(last, ".db.age") {
		return src[:i], last
	}
	return src, ""
}
