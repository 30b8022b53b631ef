// Package backup takes etcd snapshots off the node: it names, uploads (optionally encrypted
// with age), lists, expires, downloads and test-restores snapshot objects in an
// objstore.Store. Everything here is independent of how the snapshot was taken and of the
// store's protocol, so it is tested against an in-memory store and a fake etcdutl.
package backup

import (
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Meta is what a backup object says about itself, as object metadata, so that a restore
// can check what it downloaded and a drill can check what it restored without trusting the
// object's name.
type Meta struct {
	SHA256          string // hex sha256 of the plaintext snapshot .db
	Size            int64  // plaintext bytes
	Revision        int64  // the snapshot's revision
	HashKV          uint32 // etcd's keyspace hash at Revision, asked when the backup was taken; 0: none
	CompactRevision int64  // the compact revision of that HashKV answer
	Cluster         string // cluster.name; "" for a single-node cluster
	ClusterID       string
	MemberID        string
	Member          string
	EtcdVersion     string
	Image           string
	Time            time.Time // when the snapshot was taken, UTC
	Encrypted       bool      // the object is the snapshot encrypted with age
}

// Metadata names. Azure requires C# identifiers (no '-'), S3 lower-cases them, and proxies
// may drop headers with '_', so they are lower-case letters and digits only.
const (
	mSHA256      = "sha256"
	mSize        = "size"
	mRevision    = "revision"
	mHashKV      = "hashkv"
	mCompactRev  = "compactrevision"
	mCluster     = "cluster"
	mClusterID   = "clusterid"
	mMemberID    = "memberid"
	mMember      = "member"
	mEtcdVersion = "etcdversion"
	mImage       = "image"
	mTime        = "time"
	mEncrypted   = "encrypted"
)

// Map is m as object metadata. Empty strings are left out (some stores drop empty headers
// anyway), and so is the hash when there is none.
func (m Meta) Map() map[string]string {
	md := map[string]string{
		mSHA256:    m.SHA256,
		mSize:      strconv.FormatInt(m.Size, 10),
		mRevision:  strconv.FormatInt(m.Revision, 10),
		mTime:      m.Time.UTC().Format(time.RFC3339Nano),
		mEncrypted: strconv.FormatBool(m.Encrypted),
	}
	if m.HashKV != 0 {
		md[mHashKV] = strconv.FormatUint(uint64(m.HashKV), 10)
		md[mCompactRev] = strconv.FormatInt(m.CompactRevision, 10)
	}
	for _, f := range m.strings() {
		if *f.dst != "" {
			md[f.name] = escape(*f.dst)
		}
	}
	return md
}

// ParseMeta reads object metadata written by Map. sha256, size, revision, time and
// encrypted are required; the rest may be absent.
func ParseMeta(md map[string]string) (Meta, error) {
	var m Meta
	req := func(name string) (string, error) {
		v, ok := md[name]
		if !ok || v == "" {
			return "", fmt.Errorf("metadata %q is missing", name)
		}
		return v, nil
	}
	bad := func(name, v string, why string) error {
		return fmt.Errorf("metadata %q is %q: %s", name, v, why)
	}

	v, err := req(mSHA256)
	if err != nil {
		return m, err
	}
	if b, err := hex.DecodeString(v); err != nil || len(b) != 32 || strings.ToLower(v) != v {
		return m, bad(mSHA256, v, "not 64 lower-case hex digits")
	}
	m.SHA256 = v

	if v, err = req(mSize); err != nil {
		return m, err
	}
	if m.Size, err = strconv.ParseInt(v, 10, 64); err != nil || m.Size < 0 {
		return m, bad(mSize, v, "not a byte count")
	}

	if v, err = req(mRevision); err != nil {
		return m, err
	}
	if m.Revision, err = strconv.ParseInt(v, 10, 64); err != nil || m.Revision < 1 {
		return m, bad(mRevision, v, "not a revision (an integer from 1)")
	}

	if v, err = req(mTime); err != nil {
		return m, err
	}
	if m.Time, err = time.Parse(time.RFC3339Nano, v); err != nil {
		return m, bad(mTime, v, "not an RFC 3339 time")
	}
	m.Time = m.Time.UTC()

	if v, err = req(mEncrypted); err != nil {
		return m, err
	}
	if m.Encrypted, err = strconv.ParseBool(v); err != nil {
		return m, bad(mEncrypted, v, "not true or false")
	}

	if v, ok := md[mHashKV]; ok {
		h, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return m, bad(mHashKV, v, "not a 32-bit unsigned integer")
		}
		m.HashKV = uint32(h)
	}
	if v, ok := md[mCompactRev]; ok {
		// etcd answers -1 for a keyspace never compacted
		if m.CompactRevision, err = strconv.ParseInt(v, 10, 64); err != nil || m.CompactRevision < -1 {
			return m, bad(mCompactRev, v, "not a revision (-1 when never compacted)")
		}
	}

	for _, f := range m.strings() {
		if v, ok := md[f.name]; ok {
			if *f.dst, err = url.PathUnescape(v); err != nil {
				return m, bad(f.name, v, "bad %-escape")
			}
		}
	}
	return m, nil
}

type field struct {
	name string
	dst  *string
}

// strings are m's free-text fields, in a fixed order so that errors are too.
func (m *Meta) strings() []field {
	return []field{{mCluster, &m.Cluster}, {mClusterID, &m.ClusterID}, {mMemberID, &m.MemberID},
		{mMember, &m.Member}, {mEtcdVersion, &m.EtcdVersion}, {mImage, &m.Image}}
}

// escape keeps a metadata value printable ASCII without surrounding spaces, as HTTP headers
// carry it: anything else, and '%', becomes %XX (url.PathUnescape reverses it).
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c > '~' || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
