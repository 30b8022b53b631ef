package ops

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/config"
	"github.com/etcd-appliance/appliance/internal/nodestate"
	"github.com/etcd-appliance/appliance/internal/status"
)

// TestStatusBackup: every member reports the uploader's record, stale and failing backups
// come first in capitals, and the full report has the drill's result.
func TestStatusBackup(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rec     status.Record
		readErr error
		started time.Time
		summary string // a part of the summary
		report  []string
	}{
		{"fresh", status.Record{Last: testNow.Add(-2 * time.Minute), Key: "prod-x.db", Revision: 42, Size: 3 << 20, Member: "etcd-b"}, nil, testNow.Add(-time.Hour),
			" · backup last 2m ago to s3://b/prod · ",
			[]string{"  backup last 2m ago to s3://b/prod (prod-x.db, revision 42, 3 MiB, by etcd-b)", "  restore drill: none yet (firstboot backup verify)"}},
		{"stale and failing", status.Record{Last: testNow.Add(-3 * time.Hour), Key: "prod-v.db", Revision: 30, Size: 1 << 20, Member: "etcd-c", Failed: testNow.Add(-time.Minute), Error: "s3://b/prod: list: Access Denied",
			Verified: testNow.Add(-4 * time.Hour), VerifiedRevision: 40, VerifiedKey: "prod-w.db", VerifySeconds: 2.5}, nil, testNow.Add(-5 * time.Hour),
			"BACKUP STALE (last 3h ago, to s3://b/prod; failing: s3://b/prod: list: Access Denied) · etcd-a:",
			[]string{"  backup: last attempt failed 1m ago: s3://b/prod: list: Access Denied", "  restore drill: passed 4h ago; last verified restorable revision 40 (prod-w.db, restored in 2.5s)"}},
		{"none yet", status.Record{}, nil, testNow.Add(-3 * time.Hour), "BACKUP STALE (none yet, to s3://b/prod) · ", nil},
		{"drill failed", status.Record{Last: testNow.Add(-time.Minute), VerifyFailed: testNow.Add(-time.Minute), VerifyError: "keyspace hash differs"}, nil, testNow,
			" · backup last 1m ago to s3://b/prod · ", []string{"  restore drill: FAILED 1m ago: keyspace hash differs"}},
		{"record unreadable", status.Record{}, errors.New("reading the backup record: context deadline exceeded"), testNow,
			" · backup none yet to s3://b/prod · ", []string{"  backup: reading the backup record: context deadline exceeded"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fc := &fakeCluster{members: three(), statuses: up(idA, idA, idB, idC), local: answer(idA, idA)}
			n, _, _ := testNode(t, fc)
			n.State.Backup = &nodestate.Backup{Backup: config.Backup{URL: "s3://b/prod", Interval: "1h", Keep: 3}}
			n.BackupRecord = func(context.Context) (status.Record, error) { return tc.rec, tc.readErr }
			n.Started = tc.started
			st := n.Status(t.Context(), testNow)
			if !strings.Contains(st.Summary, tc.summary) {
				t.Errorf("summary %q, want %q in it", st.Summary, tc.summary)
			}
			var out bytes.Buffer
			Report(&out, st, false)
			for _, want := range tc.report {
				if !strings.Contains(out.String(), want+"\n") {
					t.Errorf("report lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

func TestBackupRetry(t *testing.T) {
	for _, tc := range []struct{ interval, want time.Duration }{
		{20 * time.Second, 20 * time.Second},
		{time.Hour, time.Minute},
	} {
		if got := backupRetry(tc.interval); got != tc.want {
			t.Errorf("backupRetry(%s) = %s, want %s", tc.interval, got, tc.want)
		}
	}
}

// TestAgentMetrics: the metrics on 2382 come from the last round's report and the agent's
// own counters.
func TestAgentMetrics(t *testing.T) {
	fc := &fakeCluster{}
	n, _, _ := testNode(t, fc)
	n.State.Backup = &nodestate.Backup{Backup: config.Backup{URL: "s3://b/prod", Interval: "1h", Keep: 3}}
	a := &agent{n: n}
	if m := a.metrics(); !m.BackupConfigured || !m.BackupLastOK.IsZero() || m.Member != "etcd-a" {
		t.Errorf("before a round: %+v", m)
	}
	a.counters.set(func(c *backupCounters) { c.uploader, c.uploads, c.failures = true, 3, 1 })
	a.last = &status.Status{CertNotAfter: testNow.Add(time.Hour), Clock: &status.Clock{Synchronized: true},
		Backup: &status.Backup{URL: "s3://b/prod", Interval: 3600, Record: status.Record{
			Last: testNow.Add(-time.Hour), Revision: 42, Size: 1 << 20, Failed: testNow, Error: "Access Denied",
			Verified: testNow.Add(-2 * time.Hour), VerifiedRevision: 40, VerifySeconds: 1.5}}}
	m := a.metrics()
	if !m.BackupUploader || m.BackupUploads != 3 || m.BackupFailures != 1 || m.BackupInterval != time.Hour ||
		!m.BackupLastOK.Equal(testNow.Add(-time.Hour)) || m.BackupLastError != "Access Denied" || m.BackupLastRevision != 42 ||
		m.DrillLastRevision != 40 || m.DrillDuration != 1500*time.Millisecond || !m.ClockSynchronized {
		t.Errorf("metrics %+v", m)
	}
	a.last.Backup.Last = testNow.Add(time.Second) // succeeded since: no error
	if m := a.metrics(); m.BackupLastError != "" {
		t.Errorf("error %q after a success", m.BackupLastError)
	}
}
