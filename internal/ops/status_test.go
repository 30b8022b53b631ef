package ops

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-appliance/appliance/internal/atomicfile"
	"github.com/etcd-appliance/appliance/internal/membership"
	"github.com/etcd-appliance/appliance/internal/pki"
	"github.com/etcd-appliance/appliance/internal/status"
)

func TestStatus(t *testing.T) {
	noSpace := func(id uint64) string { return "memberID:" + membership.IDString(id) + " alarm:NOSPACE" }
	corrupt := func(id uint64) string { return "memberID:" + membership.IDString(id) + " alarm:CORRUPT" }
	withErr := func(st map[uint64]*clientv3.StatusResponse, errs map[uint64]string) map[uint64]*clientv3.StatusResponse {
		for id, e := range errs {
			st[id].Errors = append(st[id].Errors, e)
		}
		return st
	}
	learnerUp := func() map[uint64]*clientv3.StatusResponse {
		st := up(idB, idA, idB, idC)
		st[idA].IsLearner = true
		return st
	}()
	for _, tc := range []struct {
		name     string
		noEnv    bool // no etcd.env: etcd is not run here
		members  []membership.Member
		localErr error
		statuses map[uint64]*clientv3.StatusResponse
		alarms   []*etcdserverpb.AlarmMember

		role                      string
		healthy, voters, learners int
		leader                    string
		ok                        bool     // Healthy
		alarmed                   []string // member/alarm
		summary                   string   // a part of the summary
		errs                      string   // a part of an error
	}{
		{name: "leader", members: three(), statuses: up(idA, idA, idB, idC),
			role: status.Leader, healthy: 3, voters: 3, leader: "etcd-a", ok: true, summary: "etcd-a: leader · cluster healthy 3/3 · db 20 MiB of 1 GiB"},
		{name: "follower", members: three(), statuses: up(idB, idA, idB, idC),
			role: status.Follower, healthy: 3, voters: 3, leader: "etcd-b", ok: true},
		{name: "degraded follower", members: three(), statuses: up(idB, idA, idB),
			role: status.Follower, healthy: 2, voters: 3, leader: "etcd-b", ok: true, summary: "cluster degraded 2/3"},
		{name: "no quorum", members: three(), statuses: up(0, idA),
			role: status.Follower, healthy: 0, voters: 3, summary: "etcd-a: follower · cluster NO QUORUM 0/3"},
		{name: "learner", members: append(three()[1:], learner(idA, "etcd-a")), statuses: learnerUp,
			role: status.Learner, healthy: 2, voters: 2, learners: 1, leader: "etcd-b", ok: true, summary: "cluster healthy 2/2 + 1 learner"},
		{name: "down", members: three(), localErr: errors.New("listing members: connection refused"),
			role: status.Down, summary: "etcd-a: etcd DOWN here", errs: "connection refused"},
		{name: "silent here, others answer", members: three(), statuses: up(idB, idB, idC),
			role: status.Down, healthy: 2, voters: 3, leader: "etcd-b"},
		{name: "not listed", members: three()[1:], statuses: up(idB, idB, idC),
			role: status.NotMember, healthy: 2, voters: 2, leader: "etcd-b", errs: "the cluster does not list member etcd-a (https://etcd-a:2380)"},
		{name: "no etcd.env", noEnv: true, role: status.NotMember, summary: "etcd-a: no member"},
		{name: "NOSPACE: members stay healthy, the node does not",
			members:  three(),
			statuses: withErr(up(idA, idA, idB, idC), map[uint64]string{idA: noSpace(idA), idB: noSpace(idA), idC: noSpace(idA)}),
			alarms:   []*etcdserverpb.AlarmMember{{MemberID: idA, Alarm: etcdserverpb.AlarmType_NOSPACE}},
			role:     status.Leader, healthy: 3, voters: 3, leader: "etcd-a", alarmed: []string{"etcd-a/NOSPACE"},
			summary: "ALARM NOSPACE on etcd-a · etcd-a: leader · cluster healthy 3/3"},
		{name: "CORRUPT: that member is unhealthy",
			members:  three(),
			statuses: withErr(up(idA, idA, idB, idC), map[uint64]string{idC: corrupt(idC)}),
			alarms:   []*etcdserverpb.AlarmMember{{MemberID: idC, Alarm: etcdserverpb.AlarmType_CORRUPT}, {MemberID: idD, Alarm: etcdserverpb.AlarmType_CORRUPT}},
			role:     status.Leader, healthy: 2, voters: 3, leader: "etcd-a", alarmed: []string{"etcd-c/CORRUPT", "d4/CORRUPT"},
			summary: "ALARM CORRUPT on etcd-c · ALARM CORRUPT on d4 · etcd-a: leader · cluster degraded 2/3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fc := &fakeCluster{members: tc.members, localErr: tc.localErr, statuses: tc.statuses, alarms: tc.alarms}
			n, _, _ := testNode(t, fc)
			if tc.noEnv {
				os.Remove(filepath.Join(n.RunDir, "etcd.env"))
			}
			st := n.Status(t.Context(), testNow)
			if st.Role != tc.role || st.Healthy != tc.healthy || st.Voters != tc.voters || st.Learners != tc.learners || st.Leader != tc.leader {
				t.Errorf("role %q, healthy %d/%d + %d learners, leader %q; want %q, %d/%d + %d, %q",
					st.Role, st.Healthy, st.Voters, st.Learners, st.Leader, tc.role, tc.healthy, tc.voters, tc.learners, tc.leader)
			}
			if got := Healthy(st); got != tc.ok {
				t.Errorf("Healthy = %v, want %v (%s)", got, tc.ok, st.Summary)
			}
			var alarmed []string
			for _, a := range st.Alarms {
				alarmed = append(alarmed, a.Member+"/"+a.Alarm)
			}
			if strings.Join(alarmed, " ") != strings.Join(tc.alarmed, " ") {
				t.Errorf("alarms %v, want %v", alarmed, tc.alarmed)
			}
			if !strings.Contains(st.Summary, tc.summary) || st.Summary != st.Line() {
				t.Errorf("summary %q, want it to contain %q", st.Summary, tc.summary)
			}
			if tc.errs != "" && !strings.Contains(strings.Join(st.Errors, "\n"), tc.errs) {
				t.Errorf("errors %q, want one containing %q", st.Errors, tc.errs)
			}
			if tc.noEnv && len(fc.dials) > 0 {
				t.Errorf("dialed %v with etcd not run here", fc.dials)
			}
			if tc.role == status.Leader || tc.role == status.Follower {
				if st.MemberID != "a1" || st.ClusterID != "c1" || st.DBSize != 20<<20 {
					t.Errorf("member %q cluster %q db %d: want this member's own answer", st.MemberID, st.ClusterID, st.DBSize)
				}
			}
			checkClosed(t, fc)
		})
	}
}

// The local endpoint is asked first, and the configured members after it, once each.
func TestStatusEndpoints(t *testing.T) {
	fc := &fakeCluster{members: three(), statuses: up(idA, idA, idB, idC)}
	n, _, _ := testNode(t, fc)
	n.State.Endpoints = []string{"https://127.0.0.1:2379", "https://etcd-b:2379"}
	n.Status(t.Context(), testNow)
	if got := strings.Join(fc.dials[0], " "); got != "https://127.0.0.1:2379 https://etcd-b:2379" {
		t.Errorf("dialed %s", got)
	}
}

// A node whose member left (or whose boot was refused) still shows its certificate's expiry
// and the data volume's use, and prints the summary with what it could not learn below it.
func TestStatusReport(t *testing.T) {
	fc := &fakeCluster{}
	n, m, _ := testNode(t, fc)
	os.Remove(filepath.Join(n.RunDir, "etcd.env"))
	caCert, caKey, err := pki.NewCA("test CA", testNow)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadCA(caCert, caKey, testNow)
	if err != nil {
		t.Fatal(err)
	}
	cert, _, err := ca.NewClient("etcd-a", testNow)
	if err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.Write(n.State.ServerCert, cert, 0o644); err != nil {
		t.Fatal(err)
	}
	m.free = 10 << 30 // of 200 GiB: 95% full
	st := n.Status(t.Context(), testNow)
	if st.CertNotAfter.IsZero() || st.VolumeSize != 200<<30 || st.VolumeFree != 10<<30 {
		t.Errorf("status %+v, want the certificate's expiry and the volume's use", st)
	}
	if want := "DATA VOLUME 95% FULL (10 GiB free) · etcd-a: no member · certificates valid "; !strings.HasPrefix(st.Summary, want) || !strings.HasSuffix(st.Summary, " · image 1.2.0 abc") {
		t.Errorf("summary %q, want %q…", st.Summary, want)
	}
	var out bytes.Buffer
	if err := Report(&out, st, false); err != nil || out.String() != st.Summary+"\n" {
		t.Errorf("report %q, %v", out.String(), err)
	}
	st.Errors = []string{"listing members: connection refused"}
	out.Reset()
	Report(&out, st, false)
	if want := st.Summary + "\n  listing members: connection refused\n"; out.String() != want {
		t.Errorf("report %q, want %q", out.String(), want)
	}
	out.Reset()
	Report(&out, st, true)
	var back status.Status
	if err := json.Unmarshal(out.Bytes(), &back); err != nil || back.Summary != st.Summary || back.Role != status.NotMember {
		t.Errorf("JSON report %s: %v", out.Bytes(), err)
	}
}

func TestChangeKey(t *testing.T) {
	base := func() *status.Status {
		return &status.Status{Time: testNow, Role: status.Leader, Leader: "etcd-a", Healthy: 3, Voters: 3, DBSize: 1 << 20,
			CertNotAfter: testNow.Add(time.Hour)}
	}
	same := base()
	same.DBSize = 2 << 20 // every write changes it: not worth a line
	if changeKey(base()) != changeKey(same) {
		t.Error("a db size change changed the key")
	}
	for name, change := range map[string]func(*status.Status){
		"role":    func(s *status.Status) { s.Role = status.Follower },
		"health":  func(s *status.Status) { s.Healthy = 2 },
		"alarm":   func(s *status.Status) { s.Alarms = []status.Alarm{{Member: "etcd-a", Alarm: "NOSPACE"}} },
		"expired": func(s *status.Status) { s.CertNotAfter = testNow.Add(-time.Hour) },
		"renewed": func(s *status.Status) { s.CertNotAfter = testNow.Add(300 * 24 * time.Hour) },
		"skew":    func(s *status.Status) { s.ClockSkew = []status.Skew{{Member: "etcd-b"}} },
		"full":    func(s *status.Status) { s.VolumeSize, s.VolumeFree = 100, 5 },
	} {
		s := base()
		change(s)
		if changeKey(s) == changeKey(base()) {
			t.Errorf("%s: the key stayed the same", name)
		}
	}
}

// A member advertised at a public address is asked for its own status through loopback; the
// others at what they advertise, and the member list itself is left as it was.
func TestAskSelfLocally(t *testing.T) {
	ms := []membership.Member{
		{ID: 1, Name: "a", ClientURLs: []string{"https://203.0.113.21:2379"}},
		{ID: 2, Name: "b", ClientURLs: []string{"https://10.0.0.2:2379"}},
	}
	for _, tc := range []struct {
		name  string
		self  uint64
		local string
		want  []string // each member's first client URL (self keeps its own after it)
	}{
		{"self by loopback", 1, "https://127.0.0.1:2379", []string{"https://127.0.0.1:2379", "https://10.0.0.2:2379"}},
		{"not a member", 0, "https://127.0.0.1:2379", []string{"https://203.0.113.21:2379", "https://10.0.0.2:2379"}},
		{"no local endpoint", 1, "", []string{"https://203.0.113.21:2379", "https://10.0.0.2:2379"}},
	} {
		got := askSelfLocally(ms, tc.self, tc.local)
		for i, m := range got {
			if m.ClientURLs[0] != tc.want[i] {
				t.Errorf("%s: member %s asked at %v, want %s", tc.name, m.Name, m.ClientURLs, tc.want[i])
			}
		}
	}
	if ms[0].ClientURLs[0] != "https://203.0.113.21:2379" {
		t.Error("the member list was changed")
	}
}
