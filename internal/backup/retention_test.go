package backup

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/internal/objstore"
)

// bk is a backup key at "MMDDTHHMM" in December 2026, revision rev.
func bk(at string, rev int) string {
	return fmt.Sprintf("prod-2026%sZ-r%d.db", at+"00", rev)
}

func TestExpired(t *testing.T) {
	now := time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		keys []string
		keep int
		want []string
	}{
		{name: "empty", keep: 3},
		{
			name: "fewer than keep",
			keys: []string{bk("1201T0100", 1), bk("1202T0100", 2)},
			keep: 3,
		},
		{
			name: "hourly today: keep newest 3, today's newest is one of them",
			keys: []string{bk("1210T0800", 8), bk("1210T0900", 9), bk("1210T1000", 10), bk("1210T1100", 11)},
			keep: 3,
			want: []string{bk("1210T0800", 8)},
		},
		{
			name: "each of the last 7 days keeps its newest",
			keys: []string{
				bk("1203T2300", 1),                     // 7 days before the 10th: outside
				bk("1204T0100", 2), bk("1204T2300", 3), // the 4th is the 7th day back
				bk("1209T0100", 4), bk("1209T2359", 5),
				bk("1210T0100", 6), bk("1210T0200", 7),
			},
			keep: 1,
			want: []string{bk("1203T2300", 1), bk("1204T0100", 2), bk("1209T0100", 4), bk("1210T0100", 6)},
		},
		{
			name: "keep < 1 still keeps the newest",
			keys: []string{bk("1101T0100", 1), bk("1102T0100", 2)},
			keep: 0,
			want: []string{bk("1101T0100", 1)},
		},
		{
			name: "old backups only: the newest stays",
			keys: []string{bk("1101T0100", 1), bk("1102T0100", 2), bk("1103T0100", 3)},
			keep: -5,
			want: []string{bk("1101T0100", 1), bk("1102T0100", 2)},
		},
		{
			name: "non-backups are never expired",
			keys: []string{"README", "prod-20261101T010000Z-r1.json", bk("1101T0100", 1), "old/" + bk("1101T0100", 1), bk("1102T0100", 2)},
			keep: 1,
			want: []string{bk("1101T0100", 1)},
		},
		{
			name: "same second: the higher revision is newer",
			keys: []string{bk("1101T0100", 10), bk("1101T0100", 9)},
			keep: 1,
			want: []string{bk("1101T0100", 9)},
		},
		{
			name: "encrypted and plain count alike",
			keys: []string{bk("1101T0100", 1) + ".age", bk("1102T0100", 2), bk("1103T0100", 3) + ".age"},
			keep: 2,
			want: []string{bk("1101T0100", 1) + ".age"},
		},
		{
			name: "a backup from the future (clock skew) is the newest and stays",
			keys: []string{bk("1209T0100", 1), bk("1220T0100", 2)},
			keep: 1,
			want: nil, // the 9th keeps its daily
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var objs []objstore.Object
			for _, k := range tt.keys {
				objs = append(objs, objstore.Object{Key: k, Modified: now})
			}
			var got []string
			for _, o := range Expired(objs, tt.keep, now) {
				got = append(got, o.Key)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Expired = %q\nwant %q", got, tt.want)
			}
		})
	}
}
