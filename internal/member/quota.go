package member

// MinQuota is the smallest backend quota the configuration accepts (64 MiB).
const MinQuota = 64 << 20

// FitQuota is the backend quota etcd gets on a data volume of volumeBytes: the configured one,
// or a quarter of the volume when that is less (but never under MinQuota). etcd dies when its
// disk fills (bbolt cannot commit and etcd exits), while a quota it reaches raises the NOSPACE
// alarm, from which it recovers without a restart. The disk must hold the database up to
// its quota, the write-ahead log of the same entries until a snapshot lets etcd purge it, a
// defragmentation's copy of the database, and a snapshot of it: about four databases.
func FitQuota(configured, volumeBytes int64) (quota int64, lowered bool) {
	fit := volumeBytes / 4 &^ (1<<20 - 1) // whole MiB
	if fit < MinQuota {
		fit = MinQuota
	}
	if configured <= fit {
		return configured, false
	}
	return fit, true
}
