package backup

import (
	"cmp"
	"slices"
	"time"

	"github.com/etcd-appliance/appliance/internal/objstore"
)

// DailyDays is how many UTC days, today included, keep their newest backup.
const DailyDays = 7

// Expired is the backups among objs that retention lets go, in the order of objs. It keeps:
//
//   - the newest keep backups (keep < 1 counts as 1: the newest backup is never expired);
//   - the newest backup of each of the last DailyDays UTC calendar days, today (now's UTC
//     date) included, so that a burst of backups cannot push out yesterday's.
//
// Everything older or in between goes. Backups are ordered by the time and revision in
// their keys (ParseKey), not by the store's modification times, which a copy between
// buckets resets. Objects whose keys are not backups' are never returned. The policy does
// not look at cluster names: a prefix is meant to hold one cluster's backups.
func Expired(objs []objstore.Object, keep int, now time.Time) []objstore.Object {
	bs := backups(objs)
	keep = max(keep, 1)
	kept := make(map[string]bool)
	today := utcDay(now)
	days := make(map[time.Time]bool)
	for i, b := range bs {
		if i < keep {
			kept[b.obj.Key] = true
		}
		d := utcDay(b.t)
		if !days[d] && !d.After(today) && today.Sub(d) < DailyDays*24*time.Hour {
			days[d] = true
			kept[b.obj.Key] = true
		}
	}
	var out []objstore.Object
	for _, o := range objs {
		if _, _, _, ok := ParseKey(o.Key); ok && !kept[o.Key] {
			out = append(out, o)
		}
	}
	return out
}

func utcDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// parsed is a backup object with what its key says.
type parsed struct {
	obj       objstore.Object
	t         time.Time
	rev       int64
	encrypted bool
}

// backups are the backup objects among objs, newest first: by key time, then revision (two
// backups in one second), then key.
func backups(objs []objstore.Object) []parsed {
	var bs []parsed
	for _, o := range objs {
		if t, rev, enc, ok := ParseKey(o.Key); ok {
			bs = append(bs, parsed{o, t, rev, enc})
		}
	}
	slices.SortStableFunc(bs, func(a, b parsed) int {
		return cmp.Or(b.t.Compare(a.t), cmp.Compare(b.rev, a.rev), cmp.Compare(b.obj.Key, a.obj.Key))
	})
	return bs
}
