package ops

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestExpired(t *testing.T) {
	names := []string{"p-a-20261121T120000Z.db", "p-a-20261119T120000Z.db", "p-a-20261120T120000Z.db"}
	for keep, want := range map[int][]string{
		3: nil,
		5: nil,
		2: {"p-a-20261119T120000Z.db"},
		1: {"p-a-20261119T120000Z.db", "p-a-20261120T120000Z.db"},
	} {
		if got := expired(names, keep); !reflect.DeepEqual(got, want) {
			t.Errorf("expired(keep %d) = %v, want %v", keep, got, want)
		}
	}
}

func TestSnapshotDue(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	if !snapshotDue(dir, time.Hour, now) {
		t.Error("no snapshot yet: want due")
	}
	p := filepath.Join(dir, "p-a-x.db")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, now, now.Add(-30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if snapshotDue(dir, time.Hour, now) {
		t.Error("a snapshot 30 minutes old with a 1 h interval: want not due")
	}
	if !snapshotDue(dir, 20*time.Minute, now) {
		t.Error("a snapshot 30 minutes old with a 20 min interval: want due")
	}
}

// A failed scheduled snapshot is tried again only snapshotRetry later, not at every round,
// and the agent's memory of it is its own (no package state).
func TestScheduledSnapshotRetry(t *testing.T) {
	fc := &fakeCluster{local: answer(idA, idA)}
	n, m, console := testNode(t, fc)
	n.State.SnapshotMinutes, n.State.SnapshotKeep = 60, 2
	dir := scheduledDir(n.State.Volume)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour) // snapshotDue reads the files' times
	for _, name := range []string{"prod-etcd-a-20200101T000000Z", "prod-etcd-a-20200102T000000Z"} {
		for _, ext := range []string{".db", ".json"} {
			p := filepath.Join(dir, name+ext)
			os.WriteFile(p, nil, 0o600)
			os.Chtimes(p, old, old)
		}
	}
	m.free = 100 << 20 // no room
	a := &agent{n: n}
	t0 := time.Now()
	for _, step := range []struct {
		after time.Duration
		tries int // Status asks so far
		line  string
	}{
		{0, 1, "etcd-appliance: snapshot: scheduled snapshot failed (next try in 5m0s): not enough room on the data volume for a snapshot"},
		{time.Minute, 1, ""},
		{4*time.Minute + 59*time.Second, 1, ""},
		{5 * time.Minute, 2, "scheduled snapshot failed (next try in 5m0s)"},
	} {
		console.Reset()
		a.scheduledSnapshot(t.Context(), t0.Add(step.after))
		if fc.statusCalls != step.tries || !strings.Contains(console.String(), step.line) || (step.line == "" && console.Len() > 0) {
			t.Fatalf("at +%s: %d tries, console %q; want %d tries and %q", step.after, fc.statusCalls, console.String(), step.tries, step.line)
		}
	}
	if other := (&agent{n: n}); other.snapshotFailed != (time.Time{}) {
		t.Error("a new agent starts with a failure")
	}
	// room again: the next try saves, and keep 2 leaves the newest old one and the new one
	m.free = 100 << 30
	console.Reset()
	a.scheduledSnapshot(t.Context(), t0.Add(10*time.Minute))
	if !strings.HasPrefix(console.String(), "etcd-appliance: snapshot: "+filepath.Join(dir, "prod-etcd-a-20261121T120000Z.db")+" (revision 42, 4 bytes, sha256 ") {
		t.Errorf("console %q", console.String())
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := "prod-etcd-a-20200102T000000Z.db prod-etcd-a-20200102T000000Z.json prod-etcd-a-20261121T120000Z.db prod-etcd-a-20261121T120000Z.json"
	if strings.Join(names, " ") != want {
		t.Errorf("scheduled snapshots %v, want %s", names, want)
	}
	// the new one is not due for an hour
	a.scheduledSnapshot(t.Context(), t0.Add(20*time.Minute))
	if m.saves != 1 {
		t.Errorf("%d saves, want 1", m.saves)
	}
}
