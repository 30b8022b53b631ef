package ops

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/etcd-appliance/appliance/internal/datavol"
)

func TestAgentRound(t *testing.T) {
	t.Run("learner promoted through the voters", func(t *testing.T) {
		st := up(idB, idA, idB, idC)
		st[idA].IsLearner = true
		fc := &fakeCluster{members: append(three()[1:], learner(idA, "etcd-a")), statuses: st}
		n, _, console := testNode(t, fc)
		a := &agent{n: n}
		if wait := a.round(t.Context()); wait != agentBusy {
			t.Errorf("wait %s while a learner: want %s", wait, agentBusy)
		}
		if !slices.Equal(fc.promoted, []uint64{idA}) {
			t.Errorf("promoted %v", fc.promoted)
		}
		if !slices.ContainsFunc(fc.dials, func(d []string) bool { return strings.Join(d, " ") == "https://etcd-b:2379 https://etcd-c:2379" }) {
			t.Errorf("dials %v: the promotion goes to the voters", fc.dials)
		}
		if !strings.HasPrefix(console.String(), "etcd-appliance: cluster: promoted learner a1 to a voting member\netcd-appliance: status: ") {
			t.Errorf("console %q", console.String())
		}
		checkClosed(t, fc)
	})
	t.Run("records IDs, writes status, prints on change", func(t *testing.T) {
		fc := &fakeCluster{members: three(), statuses: up(idA, idA, idB, idC)}
		n, _, console := testNode(t, fc)
		now := testNow
		n.Now = func() time.Time { return now }
		a := &agent{n: n}
		if wait := a.round(t.Context()); wait != agentIdle {
			t.Errorf("wait %s when healthy, want %s", wait, agentIdle)
		}
		id, _ := datavol.ReadIdentity(n.State.Volume)
		if id.MemberID != "a1" || id.ClusterID != "c1" {
			t.Errorf("identity %+v: want etcd's IDs recorded", id)
		}
		txt, _ := os.ReadFile(filepath.Join(n.RunDir, "status.txt"))
		line := "etcd-appliance: status: " + strings.TrimSpace(string(txt)) + "\n"
		if !strings.HasPrefix(string(txt), "etcd-a: leader · cluster healthy 3/3") || console.String() != line || !exists(filepath.Join(n.RunDir, "status.json")) {
			t.Errorf("status.txt %q, console %q", txt, console.String())
		}
		for _, step := range []struct {
			after  time.Duration
			change func()
			want   string
		}{
			{time.Minute, nil, ""}, // nothing changed
			{2 * time.Minute, func() { delete(fc.statuses, idC) }, "etcd-appliance: status: etcd-a: leader · cluster degraded 2/3"},
			{11 * time.Minute, nil, ""},
			{2*time.Minute + agentRepeat, nil, "etcd-appliance: status: etcd-a: leader · cluster degraded 2/3"},
			{23 * time.Minute, func() {
				fc.alarms = []*etcdserverpb.AlarmMember{{MemberID: idA, Alarm: etcdserverpb.AlarmType_NOSPACE}}
			}, "etcd-appliance: ALARM NOSPACE on etcd-a: the database reached its quota"},
			{23*time.Minute + 30*time.Second, nil, ""},
			{24 * time.Minute, nil, "ALARM NOSPACE on etcd-a"}, // an alarm is repeated every minute
		} {
			console.Reset()
			now = testNow.Add(step.after)
			if step.change != nil {
				step.change()
			}
			a.round(t.Context())
			if !strings.Contains(console.String(), step.want) || (step.want == "" && console.Len() > 0) {
				t.Errorf("at +%s: console %q, want %q", step.after, console.String(), step.want)
			}
		}
	})
}

// The agent starts the DNS stub once etcd answers, or resolverDelay after its own start while
// etcd does not; once.
func TestAgentQueuesResolver(t *testing.T) {
	for _, tc := range []struct {
		name      string
		localDown bool
		after     time.Duration
		want      int
	}{
		{"etcd answers", false, 0, 1},
		{"etcd down, before the delay", true, resolverDelay - time.Second, 0},
		{"etcd down, after the delay", true, resolverDelay, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fc := &fakeCluster{members: three(), statuses: up(idA, idA, idB, idC)}
			if tc.localDown {
				fc.localErr = errors.New("connection refused")
			}
			n, _, _ := testNode(t, fc)
			n.Started = testNow
			n.Now = func() time.Time { return testNow.Add(tc.after) }
			queued := 0
			n.QueueResolver = func(context.Context) error { queued++; return nil }
			a := &agent{n: n}
			a.round(t.Context())
			a.round(t.Context())
			if queued != tc.want {
				t.Errorf("DNS stub queued %d times, want %d (role %s)", queued, tc.want, a.last.Role)
			}
		})
	}
}
