package membership

import (
	"maps"
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

var (
	a = started(0xa, "etcd-a", "10.0.0.1")
	b = started(0xb, "etcd-b", "10.0.0.2")
	c = started(0xc, "etcd-c", "10.0.0.3")
	d = started(0xd, "etcd-d", "10.0.0.4")
	e = started(0xe, "etcd-e", "10.0.0.5")
)

func started(id uint64, name, ip string) Member {
	return Member{ID: id, Name: name, PeerURLs: []string{"https://" + ip + ":2380"}, ClientURLs: []string{"https://" + ip + ":2379"}}
}

// unstarted is a member that never published itself: no client URLs (and no name when added
// with member add; members of the initial cluster have theirs).
func unstarted(m Member) Member { m.Name, m.ClientURLs = "", nil; return m }

func unstartedNamed(m Member) Member { m.ClientURLs = nil; return m }
func learner(m Member) Member        { m.Learner = true; return m }

func TestDecide(t *testing.T) {
	selfC := Self{Name: "etcd-c", PeerURL: "https://10.0.0.3:2380"}
	for _, tc := range []struct {
		name    string
		members []Member
		self    Self
		want    Action
		wantID  uint64
	}{
		{"scale up: not listed", []Member{a, b}, selfC, Add, 0},
		{"late member of the initial cluster", []Member{a, b, unstartedNamed(c)}, selfC, Start, 0xc},
		{"added, never started", []Member{a, b, unstarted(c)}, selfC, Start, 0xc},
		{"retried join: learner added, never started", []Member{a, b, learner(unstarted(c))}, selfC, Start, 0xc},
		{"lost volume: started member with this peer URL", []Member{a, b, c}, selfC, Replace, 0xc},
		{"lost volume, new address: same name", []Member{a, b, c}, Self{Name: "etcd-c", PeerURL: "https://10.0.0.9:2380"}, Replace, 0xc},
		{"other name and address", []Member{a, b, c}, Self{Name: "etcd-d", PeerURL: "https://10.0.0.4:2380"}, Add, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Decide(tc.members, tc.self)
			if p.Action != tc.want || p.Member.ID != tc.wantID {
				t.Errorf("Decide = %v member %x, want %v member %x", p.Action, p.Member.ID, tc.want, tc.wantID)
			}
		})
	}
}

func TestInitialCluster(t *testing.T) {
	self := Self{Name: "etcd-d", PeerURL: "https://10.0.0.4:2380"}
	names := map[string]string{"https://10.0.0.3:2380": "etcd-c"}
	got := InitialCluster([]Member{a, b, unstarted(c), unstarted(d), unstarted(Member{ID: 0x1f, PeerURLs: []string{"https://10.0.0.7:2380"}})}, self, names)
	want := "etcd-a=https://10.0.0.1:2380,etcd-b=https://10.0.0.2:2380,etcd-c=https://10.0.0.3:2380,etcd-d=https://10.0.0.4:2380,unstarted-1f=https://10.0.0.7:2380"
	if got != want {
		t.Errorf("InitialCluster =\n %s\nwant\n %s", got, want)
	}
}

func TestQuorumChecks(t *testing.T) {
	all := func(ms ...Member) Health {
		h := Health{}
		for _, m := range ms {
			h[m.ID] = true
		}
		return h
	}
	three := []Member{a, b, c}
	five := []Member{a, b, c, d, e}
	for _, tc := range []struct {
		name     string
		members  []Member
		health   Health
		id       uint64
		down, rm string // "" = allowed; else a substring of the refusal
	}{
		{"3 healthy: any one may go", three, all(a, b, c), 0xa, "", ""},
		{"3, one other down", three, all(a, b), 0xa, "1 of 3 voting members would be healthy", "1 of 2 voting members would be healthy"},
		{"3, removing the dead one", three, all(a, b), 0xc, "", ""},
		{"5, two others down: down loses quorum", five, all(a, b, c), 0xa, "quorum needs 3", "2 of 4 voting members would be healthy"},
		{"4, target and another down: removal cannot commit", []Member{a, b, c, d}, all(a, b), 0xd, "quorum needs 3", "needs 3 healthy voting members to agree and 2 of 4 are"},
		{"5, two down, remove one dead", five, all(a, b, c), 0xe, "", ""},
		{"last member", []Member{a}, all(a), 0xa, "0 of 1", "last voting member"},
		{"learner may always go", []Member{a, learner(b)}, all(a), 0xb, "", ""},
		{"not a member", three, all(a, b, c), 0xf, "not in the cluster", "not in the cluster"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check := func(what string, err error, want string) {
				t.Helper()
				switch {
				case want == "" && err != nil:
					t.Errorf("%s: %v, want allowed", what, err)
				case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
					t.Errorf("%s: %v, want refusal containing %q", what, err, want)
				}
			}
			check("CheckDown", CheckDown(tc.members, tc.health, tc.id), tc.down)
			check("CheckRemove", CheckRemove(tc.members, tc.health, tc.id), tc.rm)
		})
	}
}

func TestQuorum(t *testing.T) {
	for n, want := range map[int]int{1: 1, 2: 2, 3: 2, 4: 3, 5: 3} {
		if got := Quorum(n); got != want {
			t.Errorf("Quorum(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestHealthOf(t *testing.T) {
	nospace := (&etcdserverpb.AlarmMember{MemberID: 7, Alarm: etcdserverpb.AlarmType_NOSPACE}).String()
	corrupt := (&etcdserverpb.AlarmMember{MemberID: 7, Alarm: etcdserverpb.AlarmType_CORRUPT}).String()
	st := map[uint64]*clientv3.StatusResponse{
		1: {Leader: 1},
		2: {Leader: 1, Errors: []string{nospace}},
		3: {Leader: 0, Errors: []string{"etcdserver: no leader"}},
		4: {Leader: 1, Errors: []string{nospace, "etcdserver: something else"}},
		5: {Leader: 1, Errors: []string{corrupt}},
	}
	want := Health{1: true, 2: true, 3: false, 4: false, 5: false}
	if got := HealthOf(st); !maps.Equal(got, want) {
		t.Errorf("HealthOf = %v, want %v (alarm text %q)", got, want, nospace)
	}
}
