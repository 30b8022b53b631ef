package ops

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-appliance/appliance/internal/datavol"
	"github.com/etcd-appliance/appliance/internal/membership"
)

func TestUpgradeCheck(t *testing.T) {
	for _, tc := range []struct {
		name       string
		members    []membership.Member
		membersErr error
		statuses   map[uint64]*clientv3.StatusResponse
		slow       map[uint64]*clientv3.StatusResponse // answer only when asked again
		want       string                              // the output
		wantErr    string
	}{
		{name: "quorum kept", members: three(), statuses: up(idB, idA, idB, idC),
			want: "ok: etcd-a may go down now: 2 of 3 voting members stay healthy (quorum 2)\n"},
		{name: "a member slow to answer is asked again", members: three(), statuses: up(idB, idA, idB), slow: up(idB, idC),
			want: "ok: etcd-a may go down now: 2 of 3 voting members stay healthy (quorum 2)\n"},
		{name: "itself unhealthy", members: three(), statuses: up(idB, idB, idC),
			want: "note: etcd-a itself is not healthy now\nok: etcd-a may go down now: 2 of 3 voting members stay healthy (quorum 2)\n"},
		{name: "the others lack quorum", members: three(), statuses: up(idA, idA, idC),
			wantErr: "not safe to take etcd-a down now: with etcd-a down, 1 of 3 voting members would be healthy and quorum needs 2 (down: etcd-b)"},
		{name: "a learner may always go", members: append(three()[1:], learner(idA, "etcd-a")), statuses: up(idB, idB),
			want: "note: etcd-a itself is not healthy now\nok: etcd-a may go down now: 1 of 2 voting members stay healthy (quorum 2)\n"},
		{name: "not a member", members: three()[1:], statuses: up(idB, idB, idC),
			want: "ok: etcd-a is not a member of the cluster; taking it down changes nothing\n"},
		{name: "cluster unreachable", membersErr: errors.New("listing members: context deadline exceeded"),
			wantErr: "not safe to take etcd-a down: listing members: context deadline exceeded (the cluster needs a quorum to answer)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fc := &fakeCluster{members: tc.members, membersErr: tc.membersErr, statuses: tc.statuses, slow: tc.slow}
			n, m, _ := testNode(t, fc)
			var out bytes.Buffer
			err := n.UpgradeCheck(t.Context(), "", &out)
			checkErr(t, err, tc.wantErr)
			if out.String() != tc.want {
				t.Errorf("output %q, want %q", out.String(), tc.want)
			}
			if len(fc.removed) > 0 || m.stopped > 0 {
				t.Errorf("upgrade-check changed something: removed %v, stopped %d", fc.removed, m.stopped)
			}
			checkClosed(t, fc)
		})
	}
}

// at is r answering from etcd server, with storage as its storage version ("" for none).
func at(r *clientv3.StatusResponse, server, storage string) *clientv3.StatusResponse {
	c := *r
	c.Version, c.StorageVersion = server, storage
	return &c
}

// downgradingTo is r reporting an enabled downgrade to target.
func downgradingTo(r *clientv3.StatusResponse, target string) *clientv3.StatusResponse {
	c := *r
	c.DowngradeInfo = &etcdserverpb.DowngradeInfo{Enabled: true, TargetVersion: target}
	return &c
}

func TestUpgradeCheckToEtcd(t *testing.T) {
	const okLine = "ok: etcd-a may go down now: 2 of 3 voting members stay healthy (quorum 2)\n"
	for _, tc := range []struct {
		name     string
		version  string // the cluster version
		statuses map[uint64]*clientv3.StatusResponse
		to       string
		want     string // the output
		wantErr  string
	}{
		{name: "roll under way", version: "3.6.0", to: "v3.7.3",
			statuses: map[uint64]*clientv3.StatusResponse{idA: at(answer(idA, idB), "3.6.16", "3.6.0"),
				idB: at(answer(idB, idB), "3.7.3", "3.6.0"), idC: at(answer(idC, idB), "3.6.16", "3.6.0")},
			want: "cluster version: 3.6.0\nmember etcd-a (this node): 3.6.16, storage 3.6.0\nmember etcd-b: 3.7.3, storage 3.6.0\n" +
				"member etcd-c: 3.6.16, storage 3.6.0\ntarget: v3.7.3\nverdict: upgrade 3.6 → 3.7 under way (1 of 3 members on 3.7) may go on\n" + okLine},
		{name: "v3.5 below v3.5.26", version: "3.5.0", to: "3.6.16",
			statuses: map[uint64]*clientv3.StatusResponse{idA: at(answer(idA, idB), "3.5.36", ""),
				idB: at(answer(idB, idB), "3.5.25", ""), idC: at(answer(idC, idB), "3.5.36", "")},
			want: "cluster version: 3.5.0\nmember etcd-a (this node): 3.5.36\nmember etcd-b: 3.5.25\nmember etcd-c: 3.5.36\n" +
				"target: 3.6.16\nverdict: refused\n",
			wantErr: "not safe to take etcd-a to etcd 3.6.16: etcd-b runs 3.5.25: etcd requires v3.5.26 or later on every member before upgrading to v3.6"},
		{name: "a member down", version: "3.6.0", to: "3.6.17", statuses: up(idB, idA, idB),
			wantErr: "etcd-c does not answer: a change of etcd version needs every member healthy"},
		{name: "downgrade enabled, storage migrated", version: "3.6.0", to: "3.6.16",
			statuses: map[uint64]*clientv3.StatusResponse{idA: downgradingTo(at(answer(idA, idB), "3.7.3", "3.6.0"), "3.6.0"),
				idB: downgradingTo(at(answer(idB, idB), "3.6.16", "3.6.0"), "3.6.0"), idC: downgradingTo(at(answer(idC, idB), "3.7.3", "3.6.0"), "3.6.0")},
			want: "cluster version: 3.6.0\nmember etcd-a (this node): 3.7.3, storage 3.6.0\nmember etcd-b: 3.6.16, storage 3.6.0\n" +
				"member etcd-c: 3.7.3, storage 3.6.0\ndowngrade: enabled, to 3.6.0\ntarget: 3.6.16\n" +
				"verdict: downgrade to 3.6 enabled and etcd-a's storage version is 3.6: it may move to 3.6.16\n" + okLine},
		{name: "the cluster version cannot be read", version: "", to: "3.6.17", statuses: up(idB, idA, idB, idC),
			wantErr: "not safe to take etcd-a to etcd 3.6.17: reading the cluster version: connection refused"},
		{name: "not a version", to: "3.7", wantErr: `--to-etcd: etcd version "3.7": want MAJOR.MINOR.PATCH such as 3.6.16`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fc := &fakeCluster{members: three(), statuses: tc.statuses, version: tc.version}
			n, m, _ := testNode(t, fc)
			var out bytes.Buffer
			err := n.UpgradeCheck(t.Context(), tc.to, &out)
			checkErr(t, err, tc.wantErr)
			if tc.want != "" && out.String() != tc.want {
				t.Errorf("output\n%s\nwant\n%s", out.String(), tc.want)
			}
			if m.stopped > 0 {
				t.Errorf("upgrade-check stopped etcd")
			}
			checkClosed(t, fc)
		})
	}
}

// The cluster version is asked of this member first, at its local URL.
func TestClusterVersionAsksSelfFirst(t *testing.T) {
	ms := []membership.Member{mem(idB, "etcd-b"), mem(idA, "etcd-a"), mem(idC, "etcd-c")}
	fc := &fakeCluster{members: ms, statuses: up(idB, idA, idB, idC), version: "3.6.0"}
	n, _, _ := testNode(t, fc)
	if err := n.UpgradeCheck(t.Context(), "3.6.17", &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"https://127.0.0.1:2379"}; !slices.Equal(fc.versionsAt, want) {
		t.Errorf("asked %v for the cluster version, want %v", fc.versionsAt, want)
	}
}

func TestLeave(t *testing.T) {
	for _, tc := range []struct {
		name      string
		members   []membership.Member
		statuses  map[uint64]*clientv3.StatusResponse
		force     bool
		removeErr error
		noID      bool // the volume has no identity record
		want      string
		wantErr   string
		removed   []uint64
		via       []string // the endpoints the removal went through
		left      bool     // etcd stopped, data wiped, Left recorded
	}{
		{name: "healthy cluster", members: three(), statuses: up(idA, idA, idB, idC),
			want:    "left: member etcd-a (a1) is removed from the cluster and its data wiped; etcd stays off on this node. Delete the machine, or boot it on a blank data disk to join again.\n",
			removed: []uint64{idA}, via: []string{"https://etcd-b:2379", "https://etcd-c:2379"}, left: true},
		{name: "the rest would lack quorum", members: three(), statuses: up(idA, idA, idB),
			wantErr: "refusing to leave: after removing etcd-a, 1 of 2 voting members would be healthy and quorum needs 2 (down: etcd-c); --force leaves anyway"},
		{name: "forced without quorum", members: three(), statuses: up(idA, idA, idB), force: true,
			want:    "leaving anyway (--force): after removing etcd-a, 1 of 2 voting members would be healthy and quorum needs 2 (down: etcd-c)\nleft: member etcd-a",
			removed: []uint64{idA}, via: []string{"https://etcd-b:2379", "https://etcd-c:2379"}, left: true},
		{name: "last member", members: three()[:1], statuses: up(idA, idA),
			wantErr: "refusing to leave: etcd-a is the cluster's last voting member: removing it would end the cluster; --force leaves anyway"},
		{name: "last member forced: not removed, wiped", members: three()[:1], statuses: up(idA, idA), force: true,
			want: "leaving anyway (--force): etcd-a is the cluster's last voting member", left: true},
		{name: "a learner leaves", members: []membership.Member{mem(idB, "etcd-b"), learner(idA, "etcd-a")}, statuses: up(idB, idB),
			want: "left: member etcd-a (a1)", removed: []uint64{idA}, via: []string{"https://etcd-b:2379"}, left: true},
		{name: "not listed", members: three()[1:], statuses: up(idB, idB, idC),
			wantErr: "cannot leave: the cluster does not list member etcd-a (https://etcd-a:2380)"},
		{name: "removal fails", members: three(), statuses: up(idA, idA, idB, idC), removeErr: errors.New("removing member a1: context deadline exceeded"),
			wantErr: "cannot leave: removing member a1: context deadline exceeded; etcd still runs here"},
		{name: "no identity record", members: three(), statuses: up(idA, idA, idB, idC), noID: true,
			wantErr: "recording the leave on the data volume: the volume has no identity record", removed: []uint64{idA}, via: []string{"https://etcd-b:2379", "https://etcd-c:2379"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fc := &fakeCluster{members: tc.members, statuses: tc.statuses, removeErr: tc.removeErr}
			n, m, _ := testNode(t, fc)
			env, memberDir := filepath.Join(n.RunDir, "etcd.env"), filepath.Join(n.State.DataDir, "member")
			if tc.noID {
				os.Remove(datavol.IdentityPath(n.State.Volume))
			}
			m.onStop = func() {
				// the leave is on the volume and etcd.env gone before etcd stops: from here a
				// crash or Restart= leaves a node that stays out, and the data is still there
				id, err := datavol.ReadIdentity(n.State.Volume)
				if err != nil || id == nil || id.Left == nil {
					t.Errorf("etcd stopped before the leave was recorded: %+v, %v", id, err)
				}
				if exists(env) {
					t.Error("etcd stopped while etcd.env is still there")
				}
				if !exists(memberDir) {
					t.Error("member data wiped before etcd stopped")
				}
			}
			var out bytes.Buffer
			err := n.Leave(t.Context(), tc.force, &out)
			checkErr(t, err, tc.wantErr)
			if !strings.HasPrefix(out.String(), tc.want) {
				t.Errorf("output %q, want it to start with %q", out.String(), tc.want)
			}
			if !slices.Equal(fc.removed, tc.removed) {
				t.Errorf("removed %v, want %v", fc.removed, tc.removed)
			}
			if tc.via != nil && !slices.Equal(fc.dials[len(fc.dials)-1], tc.via) {
				t.Errorf("removal through %v, want %v (the voters that stay)", fc.dials[len(fc.dials)-1], tc.via)
			}
			id, _ := datavol.ReadIdentity(n.State.Volume)
			recorded := id != nil && id.Left != nil
			if recorded != tc.left || (recorded && !id.Left.Equal(testNow)) {
				t.Errorf("identity %+v, want Left recorded: %v", id, tc.left)
			}
			if got := m.stopped == 1 && !exists(env) && !exists(memberDir); got != tc.left {
				t.Errorf("stopped %d, etcd.env there %v, member data there %v; want left: %v", m.stopped, exists(env), exists(memberDir), tc.left)
			}
			if !tc.left && tc.removed == nil && (!exists(env) || !exists(memberDir)) {
				t.Error("a refused leave changed the node")
			}
			checkClosed(t, fc)
		})
	}
}

func TestRemoveMember(t *testing.T) {
	for _, tc := range []struct {
		name     string
		member   string
		force    bool
		statuses map[uint64]*clientv3.StatusResponse
		want     string
		wantErr  string
		removed  []uint64
	}{
		{name: "gone member", member: "etcd-c", statuses: up(idA, idA, idB),
			want: "removed member etcd-c (c3)\n", removed: []uint64{idC}},
		{name: "by ID", member: "C3", statuses: up(idA, idA, idB),
			want: "removed member etcd-c (c3)\n", removed: []uint64{idC}},
		{name: "unknown name", member: "etcd-x", statuses: up(idA, idA, idB),
			wantErr: `the cluster has no member "etcd-x"; its members are etcd-a, etcd-b, etcd-c`},
		{name: "healthy", member: "etcd-c", statuses: up(idA, idA, idB, idC),
			wantErr: "refusing to remove etcd-c: it is healthy; run `firstboot leave` on it, or give --force"},
		{name: "healthy forced", member: "etcd-c", force: true, statuses: up(idA, idA, idB, idC),
			want: "removed member etcd-c (c3)\n", removed: []uint64{idC}},
		{name: "quorum would be lost", member: "etcd-c", statuses: up(idA, idA),
			wantErr: "refusing to remove etcd-c: removing etcd-c needs 2 healthy voting members to agree and 1 of 3 are (down: etcd-b); --force removes it anyway"},
		{name: "own name", member: "etcd-a", force: true, statuses: up(idA, idA, idB, idC),
			wantErr: "that is this node's member: use `firstboot leave` on it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fc := &fakeCluster{members: three(), statuses: tc.statuses}
			n, m, _ := testNode(t, fc)
			var out bytes.Buffer
			err := n.RemoveMember(t.Context(), tc.member, tc.force, &out)
			checkErr(t, err, tc.wantErr)
			if out.String() != tc.want {
				t.Errorf("output %q, want %q", out.String(), tc.want)
			}
			if !slices.Equal(fc.removed, tc.removed) {
				t.Errorf("removed %v, want %v", fc.removed, tc.removed)
			}
			if m.stopped > 0 || !exists(filepath.Join(n.RunDir, "etcd.env")) {
				t.Error("remove-member touched this node's etcd")
			}
			checkClosed(t, fc)
		})
	}
}
