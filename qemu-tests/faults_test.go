package qemutests

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestFaults puts a 3-node cluster through a network partition and the loss of its quorum,
// while a client on the host writes continuously through all members: the majority keeps
// serving, the minority refuses, the cluster recovers each time, and every acknowledged write
// reads back at the end. Then the database fills up (NOSPACE) and is freed, and a member
// comes back with its clock two hours ahead.
func TestFaults(t *testing.T) {
	if !archSelected("amd64") {
		t.Skip("amd64 not in QEMU_TESTS_ARCHES")
	}
	c := newTestCluster(t, "etcd-a", "etcd-b", "etcd-c")
	ca := c.newCA(t, "qemu-tests faults CA")
	key := newSSHKey(t)
	// the smallest quota the config allows, so that NOSPACE is reached in seconds
	// per-node user-data: each node gets its own certificate and no CA key (the hardened mode)
	c.renderPerNode(t, ca, "version: 1\ncluster:\n  name: faults\n"+c.members()+
		"etcd: {heartbeat_interval_ms: 300, election_timeout_ms: 5000, quota_backend_bytes: 67108864}\n"+
		"ssh_authorized_keys: ['"+key.public+"']\n")
	good := ca.clientTLS(t, "faults")
	defer c.logJournals(t, key) // before the VMs are closed (t.Cleanup would be after)
	ctx, cancel := context.WithTimeout(t.Context(), 5*vmTimeout(t))
	defer cancel()
	for i := range c.nodes {
		c.start(i, "")
	}
	c.waitAllBooted(ctx)
	a, b, cc := c.client(0, good), c.client(1, good), c.client(2, good)
	waitVoters(ctx, t, a, "etcd-a", "etcd-b", "etcd-c")
	w := startWriter(ctx, c.clientAll(good))

	if !t.Run("no CA key on any node", func(t *testing.T) {
		for i := range c.nodes {
			out, err := c.ssh(ctx, key, i, `for f in /var/lib/etcd/pki/*; do echo "$f"; done; firstboot status | while read l; do case $l in "packet filter:"*) echo "$l";; esac; done`)
			if err != nil {
				t.Fatalf("%s: %v\n%s", c.nodes[i].name, err, out)
			}
			if strings.Contains(out, "ca.key") || !strings.Contains(out, "/var/lib/etcd/pki/node.key") {
				t.Errorf("%s's pki directory (want node.key and no ca.key):\n%s", c.nodes[i].name, out)
			}
			if !strings.Contains(out, "packet filter: inbound denied except: 2380 from 3 members") {
				t.Errorf("%s: status lacks the packet filter line for 3 members:\n%s", c.nodes[i].name, out)
			}
		}
	}) {
		return
	}
	if !t.Run("partition", func(t *testing.T) {
		if err := c.net.SetLinkUp(c.nodes[2].tap, false); err != nil {
			t.Fatal(err)
		}
		putThenGet(ctx, t, a, b, "/faults/majority", "written while etcd-c was cut off")
		pctx, pcancel := context.WithTimeout(ctx, 15*time.Second)
		_, err := cc.Put(pctx, "/faults/minority", "x")
		pcancel()
		if err == nil {
			t.Error("the cut-off minority acknowledged a write")
		}
		if err := c.net.SetLinkUp(c.nodes[2].tap, true); err != nil {
			t.Fatal(err)
		}
		waitKey(ctx, t, cc, "/faults/majority", clientv3.WithSerializable())
	}) {
		return
	}

	if !t.Run("quorum loss", func(t *testing.T) {
		putThenGet(ctx, t, a, a, "/faults/before-loss", "kept")
		c.nodes[1].v.Close()
		c.nodes[2].v.Close()
		pctx, pcancel := context.WithTimeout(ctx, 15*time.Second)
		_, err := a.Put(pctx, "/faults/no-quorum", "x")
		pcancel()
		if err == nil {
			t.Error("a lone member of three acknowledged a write")
		}
		// no member has a leader, so none counts as healthy
		if st := c.status(ctx, t, key, 0); !strings.Contains(st.Summary, "cluster NO QUORUM 0/3") {
			t.Errorf("status without quorum: %q", st.Summary)
		}
		c.start(1, "")
		c.start(2, "")
		c.waitBooted(ctx, 1, 2)
		putThenGet(ctx, t, a, c.client(2, good), "/faults/after-loss", "writable again")
		waitKey(ctx, t, c.client(1, good), "/faults/before-loss", clientv3.WithSerializable())
	}) {
		return
	}

	acked, failed := w.finish()
	t.Logf("writer: %d puts acknowledged, %d failed during partition and quorum loss", len(acked), failed)
	checkAcked(ctx, t, a, acked)

	if !t.Run("NOSPACE", func(t *testing.T) {
		i := fillToNoSpace(ctx, t, a, 200)
		t.Logf("NOSPACE after %d puts of 1 MiB", i)
		if _, err := c.nodes[0].v.WaitConsole(ctx, regexp.MustCompile(`etcd-appliance: ALARM NOSPACE on etcd-[abc]: the database reached its quota`)); err != nil {
			t.Error(err)
		}
		if out, _ := c.ssh(ctx, key, 1, "firstboot status"); !strings.Contains(out, "ALARM NOSPACE") {
			t.Errorf("status with the alarm raised: %q", out)
		}
		c.clearNoSpace(ctx, t, a)
		putThenGet(ctx, t, a, b, "/faults/after-nospace", "writable again")
	}) {
		return
	}

	// etcd-c comes back with its clock two hours ahead: its certificates (valid from an hour
	// before they were made) still verify both ways, and the status of both sides names it.
	t.Run("clock skew", func(t *testing.T) {
		c.nodes[2].v.Close()
		c.nodes[2].qemuArgs = []string{"-rtc", "base=" + time.Now().UTC().Add(2*time.Hour).Format("2006-01-02T15:04:05")}
		c.start(2, "")
		c.waitBooted(ctx, 2)
		putThenGet(ctx, t, a, c.client(2, good), "/faults/skewed", "written with etcd-c's clock ahead")
		if st := c.status(ctx, t, key, 0); !regexp.MustCompile(`CLOCK SKEW vs this node: etcd-c (2h0m\d+s|1h59m5\ds) ahead · .*cluster healthy 3/3`).MatchString(st.Summary) {
			t.Errorf("status of etcd-a: %q, want etcd-c's clock 2h ahead and a healthy cluster", st.Summary)
		}
		if st := c.status(ctx, t, key, 2); !regexp.MustCompile(`CLOCK SKEW vs this node: etcd-a (2h0m\d+s|1h59m5\ds) behind, etcd-b (2h0m\d+s|1h59m5\ds) behind`).MatchString(st.Summary) {
			t.Errorf("status of etcd-c: %q, want the others 2h behind", st.Summary)
		}
	})
}

// fillToNoSpace puts 1 MiB values under /fill/ through cli until etcd refuses one for its
// quota (at most limit), and returns how many it took. Any other error fails t.
func fillToNoSpace(ctx context.Context, t *testing.T, cli *clientv3.Client, limit int) int {
	t.Helper()
	big := strings.Repeat("x", 1<<20)
	timeouts := 0
	for i := 0; i < limit; {
		_, err := cli.Put(shortCtx(ctx), fmt.Sprintf("/fill/%03d", i), big)
		switch {
		case err == nil:
			i, timeouts = i+1, 0
		case strings.Contains(err.Error(), "database space exceeded"):
			return i
		case strings.Contains(err.Error(), "deadline exceeded") && timeouts < 3:
			// a 1 MiB commit slower than shortCtx under emulation is no answer: put it again
			timeouts++
			t.Logf("put %d: %v; again", i, err)
		default:
			t.Fatalf("put %d: %v, want database space exceeded", i, err)
		}
	}
	return limit
}

// clearNoSpace is the operator's way out of NOSPACE: delete what fillToNoSpace wrote, compact,
// defragment every member, disarm.
func (c *testCluster) clearNoSpace(ctx context.Context, t *testing.T, cli *clientv3.Client) {
	t.Helper()
	resp, err := cli.Delete(shortCtx(ctx), "/fill/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(shortCtx(ctx), resp.Header.Revision); err != nil {
		t.Fatal(err)
	}
	for _, ep := range c.endpoints() {
		dctx, dcancel := context.WithTimeout(ctx, 2*time.Minute)
		_, err := cli.Defragment(dctx, ep)
		dcancel()
		if err != nil {
			t.Fatalf("defragment %s: %v", ep, err)
		}
	}
	if _, err := cli.AlarmDisarm(shortCtx(ctx), &clientv3.AlarmMember{}); err != nil {
		t.Fatal(err)
	}
}

// checkAcked reads back every acknowledged write.
func checkAcked(ctx context.Context, t *testing.T, cli *clientv3.Client, acked map[string]string) {
	t.Helper()
	if len(acked) == 0 {
		t.Fatal("no put was acknowledged")
	}
	resp, err := cli.Get(ctx, "/writer/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]string{}
	for _, kv := range resp.Kvs {
		have[string(kv.Key)] = string(kv.Value)
	}
	lost := 0
	for k, v := range acked {
		if have[k] != v {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged put %s=%q reads back as %q", k, v, have[k])
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged writes lost", lost, len(acked))
	}
}
