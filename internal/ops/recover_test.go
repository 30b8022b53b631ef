package ops

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcd-appliance/appliance/internal/membership"
)

// TestRecover: a recovery is refused while a quorum answers and without the confirmation;
// from its own data the member restarts once with --force-new-cluster, which is then taken
// away again.
func TestRecover(t *testing.T) {
	for _, tc := range []struct {
		name    string
		healthy []uint64
		opts    RecoverOptions
		noData  bool
		want    string // error
	}{
		{"quorum answers", []uint64{idA, idB}, RecoverOptions{Confirmed: true}, false, "refusing to recover: 2 of 3 voting members are healthy, a quorum"},
		{"not confirmed", []uint64{idA}, RecoverOptions{}, false, "run again with --confirm-lost-quorum"},
		{"no own data", []uint64{idA}, RecoverOptions{Confirmed: true}, true, "this member has no data to recover from"},
		{"from a backup without a backup section", nil, RecoverOptions{Confirmed: true, From: "latest"}, false, "--from needs a backup section"},
		{"own data", []uint64{idA}, RecoverOptions{Confirmed: true}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fc := &fakeCluster{members: three(), statuses: up(0, tc.healthy...)}
			for _, id := range tc.healthy {
				fc.statuses[id] = answer(id, idA)
			}
			n, m, _ := testNode(t, fc)
			env := filepath.Join(n.RunDir, "etcd.env")
			orig, _ := os.ReadFile(env)
			if tc.noData {
				os.RemoveAll(filepath.Join(n.State.DataDir, "member"))
			}
			var envAtStart []string
			n.StartEtcd = func(context.Context) error {
				b, _ := os.ReadFile(env)
				envAtStart = append(envAtStart, string(b))
				// etcd comes up alone, as --force-new-cluster makes it
				fc.members, fc.local = []membership.Member{mem(idA, "etcd-a")}, answer(idA, idA)
				return nil
			}
			var out bytes.Buffer
			err := n.Recover(t.Context(), tc.opts, &out)
			checkErr(t, err, tc.want)
			if tc.want != "" {
				if m.stopped != 0 || len(envAtStart) != 0 {
					t.Errorf("a refused recovery stopped etcd %d times, started it %d times", m.stopped, len(envAtStart))
				}
				return
			}
			if len(envAtStart) != 1 || !strings.Contains(envAtStart[0], forceNewCluster) {
				t.Errorf("etcd.env at each start: %q; want one start with the force flag", envAtStart)
			}
			if b, _ := os.ReadFile(env); !bytes.Equal(b, orig) {
				t.Errorf("etcd.env after recovery:\n%s\nwant it as before:\n%s", b, orig)
			}
			if !strings.Contains(out.String(), "recovered: etcd-a is a one-member cluster") {
				t.Errorf("said %q", out.String())
			}
		})
	}
}
