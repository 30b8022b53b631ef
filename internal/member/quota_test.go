package member

import "testing"

func TestFitQuota(t *testing.T) {
	const mib, gib = 1 << 20, 1 << 30
	for _, tc := range []struct {
		name                   string
		configured, volume, db int64
		want                   int64
		lowered                bool
	}{
		{"default quota, large volume", 2 * gib, 100 * gib, 0, 2 * gib, false},
		{"default quota, exactly four times", 2 * gib, 8 * gib, 0, 2 * gib, false},
		{"default quota, 1 GiB volume", 2 * gib, 1 * gib, 0, 256 * mib, true},
		{"odd volume size rounds down to a MiB", 2 * gib, 1000*mib + 4095, 0, 250 * mib, true},
		{"tiny volume keeps the minimum", 2 * gib, 100 * mib, 0, 64 * mib, true},
		{"small quota that fits", 64 * mib, 1 * gib, 0, 64 * mib, false},
		{"a bigger database keeps room above it", 2 * gib, 4 * gib, 1536 * mib, 1600 * mib, true},
		{"but never above the configured quota", 2 * gib, 4 * gib, 2000 * mib, 2 * gib, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, lowered := FitQuota(tc.configured, tc.volume, tc.db)
			if got != tc.want || lowered != tc.lowered {
				t.Errorf("FitQuota(%d, %d, %d) = %d, %v; want %d, %v", tc.configured, tc.volume, tc.db, got, lowered, tc.want, tc.lowered)
			}
		})
	}
}
