package backup

import (
	"maps"
	"strings"
	"testing"
	"time"
)

func fullMeta() Meta {
	return Meta{
		SHA256:          strings.Repeat("ab", 32),
		Size:            123456,
		Revision:        8812,
		HashKV:          3735928559,
		CompactRevision: 8000,
		Cluster:         "prod",
		ClusterID:       "cdf818194e3a8c32",
		MemberID:        "8e9e05c52164694d",
		Member:          "etcd-a",
		EtcdVersion:     "3.6.16",
		Image:           "etcd-appliance 2026.12.1",
		Time:            time.Date(2026, 12, 4, 5, 15, 0, 123456789, time.UTC),
		Encrypted:       true,
	}
}

func TestMetaRoundTrip(t *testing.T) {
	odd := fullMeta()
	odd.Image = " héllo 100%\n"
	odd.HashKV, odd.CompactRevision = 0, 0
	odd.Cluster, odd.Member = "", ""
	never := fullMeta()
	never.CompactRevision = -1 // what etcd's HashKV answers for a keyspace never compacted
	for name, m := range map[string]Meta{"full": fullMeta(), "odd": odd, "never compacted": never} {
		t.Run(name, func(t *testing.T) {
			md := m.Map()
			for k, v := range md {
				for _, c := range []byte(k + v) {
					if c <= ' ' || c > '~' {
						t.Errorf("%s=%q: byte %q is not printable ASCII", k, v, c)
					}
				}
				for _, c := range k {
					if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
						t.Errorf("name %q: Azure wants C# identifiers, S3 lower case", k)
					}
				}
			}
			got, err := ParseMeta(md)
			if err != nil {
				t.Fatal(err)
			}
			if got != m {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, m)
			}
		})
	}
}

func TestMetaLeavesOutEmpty(t *testing.T) {
	m := fullMeta()
	m.HashKV, m.Cluster = 0, ""
	md := m.Map()
	for _, k := range []string{"hashkv", "compactrevision", "cluster"} {
		if _, ok := md[k]; ok {
			t.Errorf("%s is in %v", k, md)
		}
	}
}

func TestParseMetaErrors(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(map[string]string)
		wantErr string
	}{
		{"no sha256", func(m map[string]string) { delete(m, "sha256") }, `metadata "sha256" is missing`},
		{"short sha256", func(m map[string]string) { m["sha256"] = "abcd" }, `metadata "sha256" is "abcd": not 64 lower-case hex digits`},
		{"upper sha256", func(m map[string]string) { m["sha256"] = strings.Repeat("AB", 32) }, `"sha256"`},
		{"no size", func(m map[string]string) { delete(m, "size") }, `metadata "size" is missing`},
		{"negative size", func(m map[string]string) { m["size"] = "-1" }, `metadata "size" is "-1": not a byte count`},
		{"no revision", func(m map[string]string) { delete(m, "revision") }, `metadata "revision" is missing`},
		{"zero revision", func(m map[string]string) { m["revision"] = "0" }, `metadata "revision" is "0"`},
		{"no time", func(m map[string]string) { delete(m, "time") }, `metadata "time" is missing`},
		{"bad time", func(m map[string]string) { m["time"] = "yesterday" }, `metadata "time" is "yesterday": not an RFC 3339 time`},
		{"no encrypted", func(m map[string]string) { delete(m, "encrypted") }, `metadata "encrypted" is missing`},
		{"bad encrypted", func(m map[string]string) { m["encrypted"] = "maybe" }, `metadata "encrypted" is "maybe"`},
		{"big hashkv", func(m map[string]string) { m["hashkv"] = "4294967296" }, `metadata "hashkv" is "4294967296": not a 32-bit unsigned integer`},
		{"bad compact", func(m map[string]string) { m["compactrevision"] = "x" }, `metadata "compactrevision" is "x"`},
		{"bad escape", func(m map[string]string) { m["member"] = "a%zz" }, `metadata "member" is "a%zz": bad %-escape`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md := maps.Clone(fullMeta().Map())
			tt.edit(md)
			_, err := ParseMeta(md)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}
