package status

import (
	"testing"
	"time"
)

func TestLine(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	base := func() Status {
		return Status{Time: now, Member: "etcd-a", Role: Leader, Healthy: 3, Voters: 3, DBSize: 12 << 20, Quota: 2 << 30,
			CertNotAfter: now.Add(364*24*time.Hour + time.Hour), Image: "1.2.0"}
	}
	for _, tc := range []struct {
		name string
		edit func(*Status)
		want string
	}{
		{"healthy", func(*Status) {}, "etcd-a: leader · cluster healthy 3/3 · db 12 MiB of 2 GiB · certificates valid 364 days · image 1.2.0"},
		{"one down", func(s *Status) { s.Role, s.Healthy = Follower, 2 }, "etcd-a: follower · cluster degraded 2/3 · db 12 MiB of 2 GiB · certificates valid 364 days · image 1.2.0"},
		{"no quorum", func(s *Status) { s.Role, s.Healthy = Follower, 1 }, "etcd-a: follower · cluster NO QUORUM 1/3 · db 12 MiB of 2 GiB · certificates valid 364 days · image 1.2.0"},
		{"alarm first", func(s *Status) { s.Alarms = []Alarm{{Member: "etcd-b", Alarm: "NOSPACE"}} }, "ALARM NOSPACE on etcd-b · etcd-a: leader · cluster healthy 3/3 · db 12 MiB of 2 GiB · certificates valid 364 days · image 1.2.0"},
		{"learner", func(s *Status) { s.Role, s.Learners = Learner, 1 }, "etcd-a: learner · cluster healthy 3/3 + 1 learner · db 12 MiB of 2 GiB · certificates valid 364 days · image 1.2.0"},
		{"expired", func(s *Status) { s.CertNotAfter = now.Add(-time.Hour) }, "etcd-a: leader · cluster healthy 3/3 · db 12 MiB of 2 GiB · certificates EXPIRED 2026-11-21 · image 1.2.0"},
		{"expiring", func(s *Status) { s.CertNotAfter = now.Add(29*24*time.Hour + time.Hour) }, "etcd-a: leader · cluster healthy 3/3 · db 12 MiB of 2 GiB · CERTIFICATES EXPIRE IN 29 DAYS (2026-12-20): reboot to renew them from the CA key, or give new ones · image 1.2.0"},
		{"volume nearly full", func(s *Status) { s.VolumeSize, s.VolumeFree = 1<<30, 50<<20 }, "DATA VOLUME 95% FULL (50 MiB free) · etcd-a: leader · cluster healthy 3/3 · db 12 MiB of 2 GiB · certificates valid 364 days · image 1.2.0"},
		{"volume with room", func(s *Status) { s.VolumeSize, s.VolumeFree = 1<<30, 200<<20 }, "etcd-a: leader · cluster healthy 3/3 · db 12 MiB of 2 GiB · certificates valid 364 days · image 1.2.0"},
		{"clock skew", func(s *Status) {
			s.ClockSkew = []Skew{{Member: "etcd-b", Offset: -2 * time.Hour}, {Member: "etcd-c", Offset: 6 * time.Second}}
		}, "CLOCK SKEW vs this node: etcd-b 2h0m0s behind, etcd-c 6s ahead · etcd-a: leader · cluster healthy 3/3 · db 12 MiB of 2 GiB · certificates valid 364 days · image 1.2.0"},
		{"clock synchronised", func(s *Status) { s.Clock = &Clock{Synchronized: true, Servers: []string{"10.77.0.1"}} }, "etcd-a: leader · cluster healthy 3/3 · db 12 MiB of 2 GiB · certificates valid 364 days · image 1.2.0"},
		{"clock without servers", func(s *Status) { s.Clock = &Clock{} }, "etcd-a: leader · cluster healthy 3/3 · db 12 MiB of 2 GiB · certificates valid 364 days · image 1.2.0"},
		{"clock not synchronised", func(s *Status) { s.Clock = &Clock{Servers: []string{"10.77.0.1"}} }, "CLOCK NOT SYNCHRONISED · etcd-a: leader · cluster healthy 3/3 · db 12 MiB of 2 GiB · certificates valid 364 days · image 1.2.0"},
		{"etcd down", func(s *Status) { s.Role, s.Voters, s.Healthy, s.DBSize = Down, 0, 0, 0 }, "etcd-a: etcd DOWN here · certificates valid 364 days · image 1.2.0"},
		{"backup fresh", func(s *Status) {
			s.Backup = &Backup{URL: "s3://b/p", Interval: 3600, Record: Record{Last: now.Add(-5 * time.Minute)}}
		}, "etcd-a: leader · cluster healthy 3/3 · db 12 MiB of 2 GiB · certificates valid 364 days · backup last 5m ago to s3://b/p · image 1.2.0"},
		{"backup none yet, just started", func(s *Status) {
			s.Backup, s.Since = &Backup{URL: "s3://b/p", Interval: 3600}, now.Add(-time.Minute)
		}, "etcd-a: leader · cluster healthy 3/3 · db 12 MiB of 2 GiB · certificates valid 364 days · backup none yet to s3://b/p · image 1.2.0"},
		{"backup none for two intervals", func(s *Status) {
			s.Backup, s.Since = &Backup{URL: "s3://b/p", Interval: 3600}, now.Add(-3*time.Hour)
		}, "BACKUP STALE (none yet, to s3://b/p) · etcd-a: leader · cluster healthy 3/3 · db 12 MiB of 2 GiB · certificates valid 364 days · image 1.2.0"},
		{"backup failing, not yet stale", func(s *Status) {
			s.Backup = &Backup{URL: "s3://b/p", Interval: 3600, Record: Record{Last: now.Add(-90 * time.Minute), Failed: now.Add(-time.Minute), Error: "s3://b/p: list: Access Denied"}}
		}, "etcd-a: leader · cluster healthy 3/3 · db 12 MiB of 2 GiB · certificates valid 364 days · backup last 1h ago to s3://b/p, BACKUP FAILING: s3://b/p: list: Access Denied · image 1.2.0"},
		{"backup stale and failing", func(s *Status) {
			s.Backup = &Backup{URL: "s3://b/p", Interval: 60, Record: Record{Last: now.Add(-3 * time.Minute), Failed: now.Add(-time.Second), Error: "connection refused"}}
		}, "BACKUP STALE (last 3m ago, to s3://b/p; failing: connection refused) · etcd-a: leader · cluster healthy 3/3 · db 12 MiB of 2 GiB · certificates valid 364 days · image 1.2.0"},
		{"backup status without a start time", func(s *Status) { s.Backup = &Backup{URL: "s3://b/p", Interval: 60} },
			"etcd-a: leader · cluster healthy 3/3 · db 12 MiB of 2 GiB · certificates valid 364 days · backup none yet to s3://b/p · image 1.2.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := base()
			tc.edit(&s)
			if got := s.Line(); got != tc.want {
				t.Errorf("Line() =\n %s\nwant\n %s", got, tc.want)
			}
		})
	}
}

func TestClockLine(t *testing.T) {
	for _, tc := range []struct {
		c    Clock
		want string
	}{
		{Clock{Synchronized: true, Source: "10.77.0.1:123 (ntp.etcd.test)", Servers: []string{"ntp.etcd.test"}}, "clock: synchronised, from 10.77.0.1:123 (ntp.etcd.test)"},
		{Clock{Synchronized: true}, "clock: synchronised"},
		{Clock{Source: "169.254.169.123:123 (169.254.169.123)", Servers: []string{"169.254.169.123"}}, "clock: NOT synchronised (last server contacted 169.254.169.123:123 (169.254.169.123); servers 169.254.169.123)"},
		{Clock{}, "clock: NOT synchronised (servers none configured: no NTP server from DHCP, the platform or time.servers)"},
	} {
		if got := tc.c.Line(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.c, got, tc.want)
		}
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{512: "512 B", 20 << 10: "20 KiB", 12<<20 + 1: "12 MiB", 2 << 30: "2 GiB", 8 << 30: "8 GiB", 3 << 29: "1.5 GiB"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestRecordFits(t *testing.T) {
	for _, tc := range []struct {
		rec            Record
		store, cluster string
		want           bool
	}{
		{Record{}, "s3://b/p", "c1", true},
		{Record{Store: "s3://b/p", ClusterID: "c1"}, "s3://b/p", "c1", true},
		{Record{Store: "s3://b/p", ClusterID: "c1"}, "s3://b/p", "", true},
		{Record{Store: "s3://b/old", ClusterID: "c1"}, "s3://b/p", "c1", false},
		{Record{Store: "s3://b/p", ClusterID: "c0"}, "s3://b/p", "c1", false}, // restored from another cluster's backup
	} {
		if got := tc.rec.Fits(tc.store, tc.cluster); got != tc.want {
			t.Errorf("%+v.Fits(%q, %q) = %v, want %v", tc.rec, tc.store, tc.cluster, got, tc.want)
		}
	}
}
