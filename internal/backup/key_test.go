package backup

import (
	"slices"
	"testing"
	"time"
)

func TestKey(t *testing.T) {
	at := time.Date(2026, 12, 4, 5, 15, 0, 999, time.FixedZone("CET", 3600))
	tests := []struct {
		cluster   string
		encrypted bool
		want      string
	}{
		{"prod", false, "prod-20261204T041500Z-r8812.db"},
		{"prod", true, "prod-20261204T041500Z-r8812.db.age"},
		{"", false, "etcd-20261204T041500Z-r8812.db"},
		{"a/b c", false, "a_b_c-20261204T041500Z-r8812.db"},
	}
	for _, tt := range tests {
		m := Meta{Cluster: tt.cluster, Time: at, Revision: 8812, Encrypted: tt.encrypted}
		got := Key(m)
		if got != tt.want {
			t.Errorf("Key(%q, encrypted %t) = %q, want %q", tt.cluster, tt.encrypted, got, tt.want)
		}
		pt, rev, enc, ok := ParseKey(got)
		if !ok || !pt.Equal(at.Truncate(time.Second)) || pt.Location() != time.UTC || rev != 8812 || enc != tt.encrypted {
			t.Errorf("ParseKey(%q) = %v %d %t %t", got, pt, rev, enc, ok)
		}
	}
}

func TestParseKeyRejects(t *testing.T) {
	for _, k := range []string{
		"",
		"README",
		"prod-20261204T041500Z-r8812.json",
		"prod-20261204T041500Z-r8812.db.gpg",
		"prod-20261204T041500Z-r0.db",
		"prod-20261204T041500Z-r08.db",
		"prod-20261304T041500Z-r1.db", // month 13
		"prod-20261204T0415Z-r1.db",
		"-20261204T041500Z-r1.db",
		"old/prod-20261204T041500Z-r1.db", // another "directory"
		"prod-20261204T041500Z-r99999999999999999999.db",
	} {
		if _, _, _, ok := ParseKey(k); ok {
			t.Errorf("ParseKey(%q) ok", k)
		}
	}
}

// TestKeyOrder: for one cluster, sorting keys sorts backups by time, across a
// revision-width change and a year change.
func TestKeyOrder(t *testing.T) {
	base := time.Date(2026, 12, 31, 23, 59, 58, 0, time.UTC)
	var keys []string
	for i, rev := range []int64{9, 10, 11, 99, 100, 1000} {
		keys = append(keys, Key(Meta{Cluster: "prod", Time: base.Add(time.Duration(i) * time.Second), Revision: rev}))
	}
	if !slices.IsSorted(keys) {
		t.Errorf("keys out of order: %q", keys)
	}
}

func TestSplitURL(t *testing.T) {
	for _, tt := range []struct{ in, url, key string }{
		{"s3://b/prod", "s3://b/prod", ""},
		{"s3://b/prod/", "s3://b/prod", ""},
		{"s3://b", "s3://b", ""},
		{"s3://b/prod/prod-20261204T051500Z-r42.db.age", "s3://b/prod", "prod-20261204T051500Z-r42.db.age"},
		{"s3://b/prod/prod-20261204T051500Z-r42.db/", "s3://b/prod", "prod-20261204T051500Z-r42.db"},
		{"azblob://c/a/b/renamed.db", "azblob://c/a/b", "renamed.db"},
		{"s3://b/etcd.db", "s3://b", "etcd.db"},
		{"s3://b/dbs", "s3://b/dbs", ""},
	} {
		if url, key := SplitURL(tt.in); url != tt.url || key != tt.key {
			t.Errorf("SplitURL(%q) = %q, %q; want %q, %q", tt.in, url, key, tt.url, tt.key)
		}
	}
}
