package member

import "testing"

func TestFitQuota(t *testing.T) {
	const mib, gib = 1 << 20, 1 << 30
	for _, tc := range []struct {
		name               string
		configured, volume int64
		want               int64
		lowered            bool
	}{
		{"default quota, large volume", 2 * gib, 100 * gib, 2 * gib, false},
		{"default quota, exactly four times", 2 * gib, 8 * gib, 2 * gib, false},
		{"default quota, 1 GiB volume", 2 * gib, 1 * gib, 256 * mib, true},
		{"odd volume size rounds down to a MiB", 2 * gib, 1000*mib + 4095, 250 * mib, true},
		{"tiny volume keeps the minimum", 2 * gib, 100 * mib, 64 * mib, true},
		{"small quota that fits", 64 * mib, 1 * gib, 64 * mib, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, lowered := FitQuota(tc.configured, tc.volume)
			if got != tc.want || lowered != tc.lowered {
				t.Errorf("FitQuota(%d, %d) = %d, %v; want %d, %v", tc.configured, tc.volume, got, lowered, tc.want, tc.lowered)
			}
		})
	}
}
