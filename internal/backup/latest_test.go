package backup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLatest(t *testing.T) {
	at := func(day, rev int, enc bool) (string, map[string]string) {
		m := fullMeta()
		m.Time = time.Date(2026, 12, day, 1, 0, 0, 0, time.UTC)
		m.Revision = int64(rev)
		m.Encrypted = enc
		return Key(m), m.Map()
	}
	good := func(day, rev int) func(*memStore) string {
		return func(st *memStore) string {
			k, md := at(day, rev, false)
			st.put(k, nil, md)
			return k
		}
	}
	broken := func(day, rev int, edit func(map[string]string)) func(*memStore) string {
		return func(st *memStore) string {
			k, md := at(day, rev, false)
			edit(md)
			st.put(k, nil, md)
			return k
		}
	}
	junk := func(key string) func(*memStore) string {
		return func(st *memStore) string { st.put(key, []byte("x"), map[string]string{"sha256": "nope"}); return key }
	}

	tests := []struct {
		name        string
		objs        []func(*memStore) string
		want        int   // index in objs of the expected backup; -1: none
		wantSkipped []int // indexes in objs, in the order reported
		wantErr     string
	}{
		{name: "empty", want: -1, wantErr: "no backup under mem://bucket/prefix: it is empty"},
		{
			name: "junk only",
			objs: []func(*memStore) string{junk("README"), junk("prod-20261204T010000Z-r5.json"), junk("x/prod-20261204T010000Z-r5.db")},
			want: -1, wantErr: "no backup under mem://bucket/prefix: 3 objects, none named like a backup",
		},
		{
			name: "newest of several, junk around",
			objs: []func(*memStore) string{junk("README"), good(3, 30), good(5, 50), good(4, 40), junk("zzz-99991231T000000Z.db")},
			want: 2,
		},
		{
			name: "same second: the higher revision",
			objs: []func(*memStore) string{good(5, 50), junk("a-20261201T010000Z-r1.db.tmp"), good(5, 51)},
			want: 2,
		},
		{
			name: "skips bad metadata, newest first",
			objs: []func(*memStore) string{
				good(3, 30),
				broken(6, 60, func(md map[string]string) { delete(md, "sha256") }),
				broken(7, 70, func(md map[string]string) { md["encrypted"] = "true" }),
				broken(8, 80, func(md map[string]string) { md["revision"] = "79" }),
			},
			want: 0, wantSkipped: []int{3, 2, 1},
		},
		{
			name: "all bad",
			objs: []func(*memStore) string{
				broken(6, 60, func(md map[string]string) { md["size"] = "big" }),
				broken(7, 70, func(md map[string]string) { delete(md, "time") }),
			},
			want: -1, wantSkipped: []int{1, 0},
			wantErr: `no backup under mem://bucket/prefix: 2 with unusable metadata: prod-20261207T010000Z-r70.db: metadata "time" is missing; prod-20261206T010000Z-r60.db: metadata "size" is "big"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newMemStore()
			var keys []string
			for _, add := range tt.objs {
				keys = append(keys, add(st))
			}
			var skipped []string
			o, m, err := Latest(context.Background(), st, func(key string, reason error) {
				skipped = append(skipped, key)
				if reason == nil {
					t.Errorf("%s skipped without a reason", key)
				}
			})
			var wantSkipped []string
			for _, i := range tt.wantSkipped {
				wantSkipped = append(wantSkipped, keys[i])
			}
			if !slices.Equal(skipped, wantSkipped) {
				t.Errorf("skipped %q, want %q", skipped, wantSkipped)
			}
			if tt.want < 0 {
				var nb *NoBackupError
				if !errors.As(err, &nb) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want a *NoBackupError with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.Key != keys[tt.want] || Key(m) != o.Key {
				t.Errorf("Latest = %q (meta for %q), want %q", o.Key, Key(m), keys[tt.want])
			}
		})
	}
}

// TestLatestStoreError: a store that fails is not a backup to skip, or an older backup
// would be restored because of a network hiccup.
func TestLatestStoreError(t *testing.T) {
	st := newMemStore()
	m := fullMeta()
	for rev := int64(1); rev <= 2; rev++ {
		m.Revision = rev
		st.put(Key(m), nil, m.Map())
	}
	m.Revision = 2
	st.failStat = map[string]error{Key(m): fmt.Errorf("503 slow down")}
	_, _, err := Latest(context.Background(), st, nil)
	if err == nil || err.Error() != "503 slow down" { // passed on as it is: the store's errors name the object
		t.Fatalf("error %v", err)
	}
}

func TestFind(t *testing.T) {
	st := newMemStore()
	m := fullMeta()
	var sums []string
	for rev := int64(1); rev <= 3; rev++ {
		m.Revision, m.SHA256 = rev, strings.Repeat(fmt.Sprintf("%02d", rev), 32)
		st.put(Key(m), nil, m.Map())
		sums = append(sums, m.SHA256)
	}
	o, got, err := Find(context.Background(), st, sums[1])
	if err != nil || got.Revision != 2 || o.Key == "" {
		t.Fatalf("Find = %q, %+v, %v; want revision 2", o.Key, got, err)
	}
	if _, _, err := Find(context.Background(), st, strings.Repeat("ff", 32)); err == nil || !strings.Contains(err.Error(), "no backup under mem://bucket/prefix has sha256 ffff") {
		t.Errorf("Find of an unknown sum: %v", err)
	}
}
