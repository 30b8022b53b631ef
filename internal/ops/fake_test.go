package ops

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-appliance/appliance/internal/datavol"
	"github.com/etcd-appliance/appliance/internal/membership"
	"github.com/etcd-appliance/appliance/internal/nodestate"
	"github.com/etcd-appliance/appliance/internal/snapshot"
	"github.com/etcd-appliance/appliance/internal/status"
)

// Member IDs of the test cluster; etcd-a is this node.
const (
	idA      = 0xa1
	idB      = 0xb2
	idC      = 0xc3
	idD      = 0xd4
	cluster1 = 0xc1
)

func mem(id uint64, name string) membership.Member {
	return membership.Member{ID: id, Name: name, PeerURLs: []string{"https://" + name + ":2380"}, ClientURLs: []string{"https://" + name + ":2379"}}
}

func learner(id uint64, name string) membership.Member {
	m := mem(id, name)
	m.Learner = true
	return m
}

func three() []membership.Member {
	return []membership.Member{mem(idA, "etcd-a"), mem(idB, "etcd-b"), mem(idC, "etcd-c")}
}

// answer is a member's status response with leader as the leader it knows.
func answer(id, leader uint64, errs ...string) *clientv3.StatusResponse {
	return &clientv3.StatusResponse{Header: &etcdserverpb.ResponseHeader{ClusterId: cluster1, MemberId: id},
		Leader: leader, DbSize: 20 << 20, DbSizeInUse: 10 << 20, Version: "3.6.16", Errors: errs}
}

// up is every listed member answering with leader.
func up(leader uint64, ids ...uint64) map[uint64]*clientv3.StatusResponse {
	st := map[uint64]*clientv3.StatusResponse{}
	for _, id := range ids {
		st[id] = answer(id, leader)
	}
	return st
}

// fakeCluster is an etcd cluster as the operations see it through Cluster.
type fakeCluster struct {
	members    []membership.Member
	membersErr error // the linearizable list fails: no quorum
	localErr   error // the serializable list fails: local etcd down
	statuses   map[uint64]*clientv3.StatusResponse
	slow       map[uint64]*clientv3.StatusResponse // answer only when given longer than statusTimeout
	alarms     []*etcdserverpb.AlarmMember
	local      *clientv3.StatusResponse // Status of the local endpoint
	version    string                   // the cluster version /version serves; "" fails
	removeErr  error

	dials        [][]string
	removed      []uint64
	promoted     []uint64
	statusCalls  int
	versionsAt   []string // the client URLs asked for /version
	open, closed int
}

func (f *fakeCluster) dial(endpoints ...string) (Cluster, error) {
	f.dials = append(f.dials, endpoints)
	f.open++
	return f, nil
}

func (f *fakeCluster) Members(context.Context) ([]membership.Member, error) {
	return f.members, f.membersErr
}

func (f *fakeCluster) LocalMembers(context.Context) ([]membership.Member, error) {
	return f.members, f.localErr
}

func (f *fakeCluster) Statuses(_ context.Context, ms []membership.Member, timeout time.Duration) map[uint64]*clientv3.StatusResponse {
	out := map[uint64]*clientv3.StatusResponse{}
	for _, m := range ms {
		if r := f.statuses[m.ID]; r != nil {
			out[m.ID] = r
		} else if r := f.slow[m.ID]; r != nil && timeout > statusTimeout {
			out[m.ID] = r
		}
	}
	return out
}

func (f *fakeCluster) Status(_ context.Context, endpoint string) (*clientv3.StatusResponse, error) {
	f.statusCalls++
	if f.local == nil {
		return nil, errors.New("connection refused")
	}
	return f.local, nil
}

func (f *fakeCluster) Versions(_ context.Context, clientURL string) (membership.Versions, error) {
	f.versionsAt = append(f.versionsAt, clientURL)
	if f.version == "" {
		return membership.Versions{}, errors.New("connection refused")
	}
	return membership.Versions{Server: "3.6.16", Cluster: f.version}, nil
}

func (f *fakeCluster) AlarmList(context.Context) (*clientv3.AlarmResponse, error) {
	return &clientv3.AlarmResponse{Alarms: f.alarms}, nil
}

func (f *fakeCluster) Remove(_ context.Context, id uint64) error {
	if f.removeErr != nil {
		return f.removeErr
	}
	f.removed = append(f.removed, id)
	return nil
}

func (f *fakeCluster) Promote(_ context.Context, id uint64) error {
	f.promoted = append(f.promoted, id)
	return nil
}

func (f *fakeCluster) Close() error { f.closed++; return nil }

// machine is the fake node's machine: what was stopped, the disk's free space, the clock.
type machine struct {
	stopped int
	onStop  func() // checks the state at the moment etcd is stopped
	free    int64
	sameFS  bool
	saves   int
}

var testNow = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// testNode is etcd-a with its volume, data and run directory in a temporary directory,
// etcd.env present (etcd runs) and an identity record on the volume.
func testNode(t *testing.T, fc *fakeCluster) (*Node, *machine, *bytes.Buffer) {
	t.Helper()
	dir := t.TempDir()
	s := nodestate.State{Member: "etcd-a", PeerURL: "https://etcd-a:2380", Cluster: "prod",
		Endpoints: []string{"https://etcd-a:2379", "https://etcd-b:2379", "https://etcd-c:2379"},
		Local:     "https://127.0.0.1:2379", ServerCert: filepath.Join(dir, "server.crt"), Quota: 1 << 30,
		Volume: filepath.Join(dir, "vol"), DataDir: filepath.Join(dir, "vol", "data"), Image: "1.2.0 abc"}
	run := filepath.Join(dir, "run")
	for _, d := range []string{run, filepath.Join(s.DataDir, "member", "wal")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(run, "etcd.env"), []byte("ETCD_NAME=etcd-a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := datavol.WriteIdentity(s.Volume, &datavol.Identity{Cluster: "prod", Member: "etcd-a", Created: testNow.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	m := &machine{free: 100 << 30, sameFS: true}
	var console bytes.Buffer
	n := &Node{State: s, RunDir: run, Dial: fc.dial,
		StopEtcd: func(context.Context) error {
			if m.onStop != nil {
				m.onStop()
			}
			m.stopped++
			return nil
		},
		Usage:  func(string) (int64, int64, error) { return 200 << 30, m.free, nil },
		SameFS: func(a, b string) bool { return m.sameFS },
		Save: func(_ context.Context, endpoint, path string) (string, error) {
			m.saves++
			return "3.6.16", os.WriteFile(path, []byte("bolt"), 0o600)
		},
		Describe: func(context.Context, string) (snapshot.Status, error) {
			return snapshot.Status{Revision: 42, TotalKey: 7}, nil
		},
		ClockSkews: func(context.Context, []membership.Member, uint64) []status.Skew { return nil },
		Now:        func() time.Time { return testNow },
		Console:    &console,
	}
	return n, m, &console
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// checkErr fails unless err contains want ("" for no error).
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("error %v, want none", err)
	case want != "" && (err == nil || !bytes.Contains([]byte(err.Error()), []byte(want))):
		t.Fatalf("error %v, want one containing %q", err, want)
	}
}

// every dial is closed again
func checkClosed(t *testing.T, fc *fakeCluster) {
	t.Helper()
	if fc.open != fc.closed {
		t.Errorf("%d clients dialed, %d closed", fc.open, fc.closed)
	}
}
