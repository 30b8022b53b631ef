package main

import (
	"os"
	"path/filepath"
	"reflect"
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
