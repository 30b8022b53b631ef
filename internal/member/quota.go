package member

import "github.com/etcd-appliance/appliance/config"

// quotaMargin is the room above the database's present size that a lowered quota keeps, so
// that a member whose volume is smaller than the quota asks for still takes writes.
const quotaMargin = 64 << 20

// FitQuota is the backend quota etcd gets on a data volume of volumeBytes holding a database of
// dbBytes: the configured one, or a quarter of the volume when that is less. etcd dies when
// its disk fills (bbolt cannot commit and etcd exits), while a quota it reaches raises the
// NOSPACE alarm, from which it recovers without a restart. The disk must hold the database up
// to its quota, the write-ahead log of the same entries until a snapshot lets etcd purge it, a
// defragmentation's copy of the database, and a snapshot of it: about four databases. The
// quota never goes below config.MinQuotaBackendBytes, nor below the database already there
// plus quotaMargin (a volume filled under an older, bigger quota keeps taking writes).
func FitQuota(configured, volumeBytes, dbBytes int64) (quota int64, lowered bool) {
	fit := max(volumeBytes/4, config.MinQuotaBackendBytes, dbBytes+quotaMargin) &^ (1<<20 - 1) // whole MiB
	if configured <= fit {
		return configured, false
	}
	return fit, true
}
