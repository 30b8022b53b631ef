package qemutests

import (
	"context"
	"regexp"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// powerCutPoints are firstboot's pause points (internal/node/pause.go), in boot order.
var powerCutPoints = []string{"before-volume", "after-format", "before-tls", "after-tls", "after-member-add"}

// TestPowerCuts cuts a joining node's power at each step of its first boot in turn: before
// its data volume exists, right after mkfs, before and after its certificates, and after it
// was added to the cluster as a learner. Each next boot starts from what the cut left and must
// get past that step (it reaches the next pause point); the boot after the last cut must make
// it a healthy voting member, with no stale learner or second member of its name left behind.
func TestPowerCuts(t *testing.T) {
	if !archSelected("amd64") {
		t.Skip("amd64 not in QEMU_TESTS_ARCHES")
	}
	c := newTestCluster(t, "etcd-a", "etcd-b")
	ca := c.newCA(t, "qemu-tests power-cut CA")
	config := func(idx ...int) string {
		return "version: 1\ncluster:\n  name: powercut\n" + c.membersOf(idx...) + ca.tlsYAML() + tcgTuning
	}
	good := ca.clientTLS(t, "powercut")
	ctx, cancel := context.WithTimeout(t.Context(), 4*vmTimeout(t))
	defer cancel()

	c.start(0, config(0))
	c.waitBooted(ctx, 0)
	a := c.client(0, good)
	putThenGet(ctx, t, a, a, "/powercut/before", "written before etcd-b")

	b := c.nodes[1]
	for _, point := range powerCutPoints {
		b.kargs = "etcd.test.pause=" + point
		v := c.start(1, config(0, 1))
		if _, err := v.WaitConsole(ctx, regexp.MustCompile(`etcd-appliance: paused at `+point+` `)); err != nil {
			t.Fatalf("cut at %s: %v", point, err)
		}
		v.Close() // the power cut: nothing more reaches the disks
		t.Logf("power cut at %s", point)
	}
	// the cut after the member add left etcd-b in the cluster as a learner that never started
	resp, err := a.MemberList(shortCtx(ctx))
	if err != nil {
		t.Fatal(err)
	}
	unstartedLearner := func(i int) bool { m := resp.Members[i]; return m.IsLearner && m.Name == "" && len(m.ClientURLs) == 0 }
	if len(resp.Members) != 2 || !unstartedLearner(0) && !unstartedLearner(1) {
		t.Fatalf("after the cut at after-member-add: members %v, want etcd-a and an unstarted learner", resp.Members)
	}

	b.kargs = ""
	start := time.Now()
	c.start(1, config(0, 1))
	c.waitBooted(ctx, 1)
	waitVoters(ctx, t, a, "etcd-a", "etcd-b")
	t.Logf("etcd-b converged %s after the last power cut", time.Since(start).Round(time.Second))
	bc := c.client(1, good)
	waitKey(ctx, t, bc, "/powercut/before", clientv3.WithSerializable())
	putThenGet(ctx, t, bc, a, "/powercut/after", "written through etcd-b")
}
