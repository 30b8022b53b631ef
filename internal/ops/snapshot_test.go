package ops

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcd-appliance/appliance/internal/snapshot"
)

func TestRoomForSnapshot(t *testing.T) {
	const MiB, GiB = 1 << 20, 1 << 30
	for _, tc := range []struct {
		name      string
		sameFS    bool
		free      int64
		usageErr  error
		dbSize    int64
		transient bool
		wantErr   string
	}{
		{name: "other filesystem, full", free: 0, dbSize: 500 * MiB},
		{name: "room for the quota and the headroom", sameFS: true, free: GiB + 64*MiB, dbSize: 500 * MiB},
		{name: "not the quota's room", sameFS: true, free: GiB, dbSize: 500 * MiB,
			wantErr: "not enough room on the data volume for a snapshot: 1 GiB free, 1.1 GiB needed (the 500 MiB database, the room etcd may still grow into up to its 1 GiB quota, and 64 MiB): delete old snapshots from VOL/snapshots, or give --out a directory on another filesystem"},
		{name: "a database past its quota counts itself", sameFS: true, free: 2 * GiB, dbSize: 2 * GiB,
			wantErr: "2 GiB free, 2.1 GiB needed (the 2 GiB database"},
		{name: "transient: its own size and the headroom", sameFS: true, free: 600 * MiB, dbSize: 500 * MiB, transient: true},
		{name: "transient, no room", sameFS: true, free: 500 * MiB, dbSize: 500 * MiB, transient: true,
			wantErr: "500 MiB free, 564 MiB needed (the 500 MiB database while it streams, and 64 MiB): delete old snapshots from VOL/snapshots"},
		{name: "statfs fails", sameFS: true, usageErr: errors.New("statfs VOL: input/output error"), wantErr: "statfs VOL: input/output error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, _, _ := testNode(t, &fakeCluster{})
			n.State.Volume = "VOL"
			n.SameFS = func(a, b string) bool { return tc.sameFS }
			n.Usage = func(string) (int64, int64, error) { return 100 * GiB, tc.free, tc.usageErr }
			err := n.roomForSnapshot("VOL/snapshots", tc.dbSize, tc.transient)
			checkErr(t, err, tc.wantErr)
			if err != nil && tc.transient && strings.Contains(err.Error(), "--out") {
				t.Errorf("%v: --out elsewhere does not help a snapshot that streams", err)
			}
		})
	}
}

func TestSnapshot(t *testing.T) {
	t.Run("into the volume", func(t *testing.T) {
		fc := &fakeCluster{local: answer(idA, idA)}
		n, _, _ := testNode(t, fc)
		var stdout, stderr bytes.Buffer
		if err := n.Snapshot(t.Context(), "", &stdout, &stderr); err != nil {
			t.Fatal(err)
		}
		db := filepath.Join(n.State.Volume, "snapshots", "prod-etcd-a-20261121T120000Z.db")
		var sc snapshot.Sidecar
		if err := json.Unmarshal(stdout.Bytes(), &sc); err != nil {
			t.Fatalf("%v\n%s", err, stdout.Bytes())
		}
		if sc.File != filepath.Base(db) || sc.Revision != 42 || sc.Keys != 7 || sc.Size != 4 || sc.ClusterID != "c1" || sc.MemberID != "a1" || sc.EtcdVersion != "3.6.16" {
			t.Errorf("sidecar %+v", sc)
		}
		if !exists(db) || !exists(strings.TrimSuffix(db, ".db")+".json") || exists(db+".part") {
			t.Error("want NAME.db and NAME.json, no .part")
		}
		if fc.dials[0][0] != n.State.Local {
			t.Errorf("asked %v, want the local member", fc.dials[0])
		}
		checkClosed(t, fc)
	})
	t.Run("to standard output", func(t *testing.T) {
		fc := &fakeCluster{local: answer(idA, idA)}
		n, _, _ := testNode(t, fc)
		var stdout, stderr bytes.Buffer
		if err := n.Snapshot(t.Context(), "-", &stdout, &stderr); err != nil {
			t.Fatal(err)
		}
		if stdout.String() != "bolt" || !strings.Contains(stderr.String(), `"revision": 42`) {
			t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
		}
		if left, _ := os.ReadDir(filepath.Join(n.State.Volume, "snapshots")); len(left) > 0 {
			t.Errorf("staged snapshot left behind: %v", left)
		}
	})
	t.Run("no room: nothing saved", func(t *testing.T) {
		fc := &fakeCluster{local: answer(idA, idA)}
		n, m, _ := testNode(t, fc)
		m.free = 100 << 20
		err := n.Snapshot(t.Context(), "", &bytes.Buffer{}, &bytes.Buffer{})
		checkErr(t, err, "not enough room on the data volume for a snapshot")
		if m.saves > 0 {
			t.Error("saved a snapshot without room for it")
		}
	})
	t.Run("etcd down here", func(t *testing.T) {
		n, _, _ := testNode(t, &fakeCluster{})
		err := n.Snapshot(t.Context(), "", &bytes.Buffer{}, &bytes.Buffer{})
		checkErr(t, err, "asking https://127.0.0.1:2379 for its database size: connection refused")
	})
}
