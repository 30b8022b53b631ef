package qemutests

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-appliance/appliance/internal/tlstest"
	"github.com/etcd-appliance/appliance/internal/vm"
	"github.com/etcd-appliance/appliance/monitoring"
)

// membersOf is the cluster.members section for the listed nodes.
func (c *testCluster) membersOf(idx ...int) string {
	s := "  members:\n"
	for _, i := range idx {
		n := c.nodes[i]
		s += fmt.Sprintf("    - {name: %s, address: %s}\n", n.name, n.memberAddr())
	}
	return s
}

// ssh runs command on node i as root over SSH from inside the namespace.
func (c *testCluster) ssh(ctx context.Context, key sshKey, i int, command string) (string, error) {
	return key.runWith(ctx, c.inNetns, c.nodes[i].ip.String(), sshPort, command)
}

// logJournals logs the end of etcd's and the agent's journal of every node still running, when
// t failed: etcd logs to the journal only, and the console shows just the agent's summary.
// Defer it in the test function: the VMs are closed by t.Cleanup, after deferred calls.
func (c *testCluster) logJournals(t *testing.T, key sshKey) {
	if !t.Failed() {
		return
	}
	for i, n := range c.nodes {
		if n.v == nil {
			continue
		}
		select {
		case <-n.v.Done():
			continue
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, err := c.ssh(ctx, key, i, "journalctl -u etcd -u etcd-agent -n 60 --no-pager -o short-monotonic")
		cancel()
		t.Logf("%s: journal of etcd and etcd-agent (%v):\n%s", n.name, err, out)
	}
}

func (c *testCluster) inNetns(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", c.net.Name(), name}, args...)...)
}

// mustSSH is ssh that fails the test on error.
func (c *testCluster) mustSSH(ctx context.Context, t *testing.T, key sshKey, i int, command string) string {
	t.Helper()
	out, err := c.ssh(ctx, key, i, command)
	if err != nil {
		t.Fatalf("%s: %s: %v\n%s", c.nodes[i].name, command, err, out)
	}
	return out
}

// waitVoters waits until the cluster lists exactly the named members, all started voters
// (learners promoted), and returns their IDs by name.
func waitVoters(ctx context.Context, t *testing.T, cli *clientv3.Client, names ...string) map[string]uint64 {
	t.Helper()
	want := strings.Join(names, ",")
	var got string
	for {
		resp, err := cli.MemberList(shortCtx(ctx))
		if err == nil {
			ids := map[string]uint64{}
			var ns []string
			for _, m := range resp.Members {
				n := m.Name
				if n == "" {
					n = "(unstarted)"
				}
				if m.IsLearner {
					n += "(learner)"
				}
				ns = append(ns, n)
				ids[m.Name] = m.ID
			}
			slices.Sort(ns)
			got = strings.Join(ns, ",")
			if got == want {
				return ids
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("members %s, want voters %s (last error %v)", got, want, err)
		case <-time.After(time.Second):
		}
	}
}

// checkKeys reads every key from node i's own copy (serializable): it has them all.
func (c *testCluster) checkKeys(ctx context.Context, t *testing.T, i int, tc *tls.Config, keys ...string) {
	t.Helper()
	cli := c.client(i, tc)
	for _, k := range keys {
		waitKey(ctx, t, cli, k, clientv3.WithSerializable())
	}
}

// nodeStatus is the part of `firstboot status --json` the tests read.
type nodeStatus struct {
	Member   string `json:"member"`
	MemberID string `json:"member_id"`
	Role     string `json:"role"`
	Healthy  int    `json:"healthy"`
	Voters   int    `json:"voters"`
	Image    string `json:"image"`
	Summary  string `json:"summary"`
}

func (c *testCluster) status(ctx context.Context, t *testing.T, key sshKey, i int) nodeStatus {
	t.Helper()
	out, _ := c.ssh(ctx, key, i, "firstboot status --json") // exits 1 when unhealthy
	var st nodeStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("%s: firstboot status --json: %v\n%s", c.nodes[i].name, err, out)
	}
	return st
}

// TestDayTwo grows a cluster from one member to three and five, shrinks it to three with
// `leave` and `remove-member`, checks the quorum guards, kills a member with SIGKILL,
// replaces a member whose disk was lost, and restores a snapshot of it into a new cluster
// fetched over HTTP. Writes are read back from every member after each step.
func TestDayTwo(t *testing.T) {
	if !archSelected("amd64") {
		t.Skip("amd64 not in QEMU_TESTS_ARCHES")
	}
	names := []string{"etcd-a", "etcd-b", "etcd-c", "etcd-d", "etcd-e"}
	// members by IP address here (TestCluster lists them by name); the network's DNS names a
	// backup server, reached through its proxy
	// and an S3 server (s3.etcd.test) the cluster backs up to, encrypted, every backupEvery
	s3, s3CA := s3Server(t, "etcd.test")
	c := newTestClusterOn(t, clusterNet{Domain: "etcd.test", Records: map[string][]netip.Addr{"backups": {clusterGateway}, "s3": {clusterGateway}},
		Proxy: true, S3: s3}, names...)
	ca := c.newCA(t, "qemu-tests day-2 CA")
	key := newSSHKey(t)
	s3Trust := "trust:\n  ca_certs: [" + strconv.Quote(s3CA) + "]\n"
	config := func(idx ...int) string {
		return "version: 1\ncluster:\n  name: day2\n" + c.membersOf(idx...) + ca.tlsYAML() + tcgTuning +
			"ssh_authorized_keys: ['" + key.public + "']\n" +
			// the test network's gateway scrapes metrics (the other cluster tests do not let it)
			"network: {metrics_from: ['" + clusterGateway.String() + "']}\n" +
			backupYAML("day2", "etcd.test", fmt.Sprintf(", interval: %s, keep: 4, encrypt_to: ['%s']", backupEvery, agePublic)) + s3Trust
	}
	good := ca.clientTLS(t, "day2")
	ctx, cancel := context.WithTimeout(t.Context(), 7*vmTimeout(t))
	defer cancel()
	bucket := filepath.Join(c.net.S3Dir(), s3Bucket, "day2")
	watch := watchBucket(ctx, bucket)
	var inBackup []string // keys acknowledged before `firstboot backup now`
	src := 0              // the node the last subtests work through: etcd-a, unless it was killed

	c.start(0, config(0))
	c.waitBooted(ctx, 0)
	a := c.client(0, good)
	putThenGet(ctx, t, a, a, "/day2/1", "one member")
	var ids map[string]uint64

	if !t.Run("scale 1 to 3", func(t *testing.T) {
		start := time.Now()
		c.start(1, config(0, 1, 2))
		c.start(2, config(0, 1, 2))
		c.waitBooted(ctx, 1, 2)
		waitVoters(ctx, t, a, "etcd-a", "etcd-b", "etcd-c")
		t.Logf("1 → 3 members: %s", time.Since(start).Round(time.Second))
		for _, n := range c.nodes[1:3] {
			if _, err := n.v.WaitConsole(ctx, regexp.MustCompile(`etcd-appliance: cluster: added as learner [0-9a-f]+`)); err != nil {
				t.Errorf("%s: %v", n.name, err)
			}
			if _, err := n.v.WaitConsole(ctx, regexp.MustCompile(`etcd-appliance: cluster: promoted learner [0-9a-f]+ to a voting member`)); err != nil {
				t.Errorf("%s: %v", n.name, err)
			}
		}
		putThenGet(ctx, t, a, c.client(2, good), "/day2/3", "three members")
		for i := range 3 {
			c.checkKeys(ctx, t, i, good, "/day2/1", "/day2/3")
		}
	}) {
		return
	}

	if !t.Run("status and metrics", func(t *testing.T) {
		st := c.status(ctx, t, key, 0)
		if st.Voters != 3 || st.Healthy != 3 || !strings.Contains(st.Summary, "cluster healthy 3/3") {
			t.Errorf("status of etcd-a: %+v, want 3 healthy voters", st)
		}
		resp, err := c.healthClient().Get(fmt.Sprintf("http://%s:%d/metrics", c.nodes[1].ip, etcdMetricsPort))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !regexp.MustCompile(`(?m)^etcd_server_has_leader 1$`).Match(body) {
			t.Errorf("metrics of etcd-b lack etcd_server_has_leader 1 (%d bytes)", len(body))
		}
		if _, err := c.nodes[0].v.WaitConsole(ctx, regexp.MustCompile(`etcd-appliance: status: etcd-a: (leader|follower) · cluster healthy 3/3`)); err != nil {
			t.Error(err)
		}
	}) {
		return
	}

	if !t.Run("peer port for peers", func(t *testing.T) {
		// etcdctl on etcd-a holds a client certificate of the cluster CA (root@etcd-a), and
		// etcd-a is a member, so the packet filter lets it reach etcd-b's peer port: only etcd's
		// peer check (--peer-cert-allowed-cn) stands between a client bundle and raft there
		peerB := c.nodes[1].ip.String()
		// (the login shell presets ETCDCTL_ENDPOINTS, and etcdctl refuses a flag beside it)
		out, err := c.ssh(ctx, key, 0, "ETCDCTL_ENDPOINTS=https://"+peerB+":2379 etcdctl endpoint health 2>&1")
		if err != nil || !strings.Contains(out, "is healthy") {
			t.Fatalf("etcdctl on etcd-a to etcd-b's client port: %v\n%s", err, out)
		}
		out, _ = c.ssh(ctx, key, 0, "ETCDCTL_ENDPOINTS=https://"+peerB+":2380 etcdctl --dial-timeout=3s --command-timeout=3s endpoint health 2>&1")
		if strings.Contains(out, "is healthy") {
			t.Errorf("a client bundle got an answer from etcd-b's peer port:\n%s", out)
		}
		t.Logf("etcdctl on etcd-a against etcd-b's peer port:\n%s", out)
		out, err = c.ssh(ctx, key, 1, `journalctl -u etcd.service -o cat --no-pager | while read l; do case $l in *"rejected connection on peer endpoint"*"client certificate authentication failed"*) echo refused;; esac; done`)
		if err != nil || !strings.Contains(out, "refused") {
			t.Errorf("etcd-b's journal does not show the client bundle refused on the peer port: %v\n%s", err, out)
		}
	}) {
		return
	}

	if !t.Run("scale 3 to 5", func(t *testing.T) {
		start := time.Now()
		c.start(3, config(0, 1, 2, 3, 4))
		c.start(4, config(0, 1, 2, 3, 4))
		c.waitBooted(ctx, 3, 4)
		waitVoters(ctx, t, a, "etcd-a", "etcd-b", "etcd-c", "etcd-d", "etcd-e")
		t.Logf("3 → 5 members: %s", time.Since(start).Round(time.Second))
		putThenGet(ctx, t, c.client(4, good), a, "/day2/5", "five members")
		for i := range 5 {
			c.checkKeys(ctx, t, i, good, "/day2/1", "/day2/3", "/day2/5")
		}
	}) {
		return
	}

	if !t.Run("scale 5 to 3", func(t *testing.T) {
		out := c.mustSSH(ctx, t, key, 4, "firstboot leave")
		if !strings.Contains(out, "left: member etcd-e") {
			t.Errorf("firstboot leave said %q", out)
		}
		// a machine that is gone: removed by name from another node
		c.nodes[3].v.Close()
		out = c.mustSSH(ctx, t, key, 0, "firstboot remove-member etcd-d")
		if !strings.Contains(out, "removed member etcd-d") {
			t.Errorf("firstboot remove-member said %q", out)
		}
		ids = waitVoters(ctx, t, a, "etcd-a", "etcd-b", "etcd-c")
		putThenGet(ctx, t, a, c.client(1, good), "/day2/3-again", "three again")
		for i := range 3 {
			c.checkKeys(ctx, t, i, good, "/day2/1", "/day2/5", "/day2/3-again")
		}
		// the node that left keeps etcd off
		c.checkNoEtcd(ctx, t, 4)
		if st := c.status(ctx, t, key, 4); st.Role != "no member" {
			t.Errorf("status after leave: role %q, want no member", st.Role)
		}
		c.nodes[4].v.Close()
	}) {
		return
	}

	if !t.Run("quorum guards and kill -9", func(t *testing.T) {
		if out := c.mustSSH(ctx, t, key, 1, "firstboot upgrade-check"); !strings.Contains(out, "ok: etcd-b may go down now") {
			t.Errorf("upgrade-check with all healthy said %q", out)
		}
		c.nodes[2].v.Close() // SIGKILL
		if out, err := c.ssh(ctx, key, 1, "firstboot upgrade-check"); err == nil || !strings.Contains(out, "quorum needs 2") {
			t.Errorf("upgrade-check with etcd-c down: %v %q, want a refusal naming the quorum", err, out)
		}
		if out, err := c.ssh(ctx, key, 1, "firstboot leave"); err == nil || !strings.Contains(out, "refusing to leave") {
			t.Errorf("leave with etcd-c down: %v %q, want a refusal", err, out)
		}
		putThenGet(ctx, t, a, c.client(1, good), "/day2/c-killed", "c was killed")
		c.start(2, config(0, 1, 2))
		c.waitBooted(ctx, 2)
		if got := waitVoters(ctx, t, a, "etcd-a", "etcd-b", "etcd-c"); got["etcd-c"] != ids["etcd-c"] {
			t.Errorf("etcd-c came back as member %x, want %x", got["etcd-c"], ids["etcd-c"])
		}
		c.checkKeys(ctx, t, 2, good, "/day2/c-killed")
	}) {
		return
	}

	if !t.Run("replace a lost disk", func(t *testing.T) {
		n := c.nodes[2]
		n.v.Close()
		if err := vm.CreateBlankDisk(ctx, n.disk, dataDiskSize); err != nil {
			t.Fatal(err)
		}
		putThenGet(ctx, t, a, c.client(1, good), "/day2/c-lost", "c lost its disk")
		v := c.start(2, config(0, 1, 2))
		if _, err := v.WaitConsole(ctx, regexp.MustCompile(`etcd-appliance: cluster: removed the stale member etcd-c`)); err != nil {
			t.Fatal(err)
		}
		c.waitBooted(ctx, 2)
		got := waitVoters(ctx, t, a, "etcd-a", "etcd-b", "etcd-c")
		if got["etcd-c"] == ids["etcd-c"] {
			t.Errorf("etcd-c kept member ID %x after losing its data", got["etcd-c"])
		}
		c.checkKeys(ctx, t, 2, good, "/day2/1", "/day2/5", "/day2/c-lost")
	}) {
		return
	}

	if !t.Run("off-node backups", func(t *testing.T) {
		// one backup per interval for the whole cluster, not one per member, whoever uploads
		watch.waitCount(ctx, t, 3)
		ts := watch.appeared()
		span := ts[len(ts)-1].Sub(ts[0])
		if most := int(span/backupEvery) + 2; len(ts) > most {
			t.Errorf("%d backups appeared in %s, want at most %d: one per %s for the cluster", len(ts), span.Round(time.Second), most, backupEvery)
		}
		for i := 1; i < len(ts); i++ {
			if gap := ts[i].Sub(ts[i-1]); gap < 5*time.Second {
				t.Errorf("backups %d and %d appeared %s apart: two members uploaded", i-1, i, gap)
			}
		}
		// retention keeps 4 (and one a day, which today's newest already is)
		if len(ts) > 4 {
			waitFor(ctx, t, "retention to keep 4 backups", func() bool { return len(watch.list()) <= 4 })
		}
		if _, err := c.nodes[0].v.WaitConsole(ctx, regexp.MustCompile(`etcd-appliance: status: etcd-a: .* · backup last \d+s ago to s3://backups/day2`)); err != nil {
			t.Error(err)
		}

		// the agent's own metrics on 2382
		resp, err := c.healthClient().Get(fmt.Sprintf("http://%s:2382/metrics", c.nodes[0].ip))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !regexp.MustCompile(`(?m)^etcd_appliance_backup_last_success_timestamp_seconds [1-9]`).Match(body) {
			t.Errorf("etcd-a's agent metrics lack a last backup time:\n%s", body)
		}
		// every metric the shipped alerts and dashboard use is served, by etcd (2381) or the agent
		resp, err = c.healthClient().Get(fmt.Sprintf("http://%s:%d/metrics", c.nodes[0].ip, etcdMetricsPort))
		if err != nil {
			t.Fatal(err)
		}
		etcdBody, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		served := servedMetrics(string(body) + "\n" + string(etcdBody))
		names, err := monitoring.MetricNames()
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			if !served[name] {
				t.Errorf("monitoring/ uses %s, which etcd-a does not serve on 2381 or 2382", name)
			}
		}

		// killing the uploader does not stop backups: another member takes over
		st := c.backupStatus(ctx, t, key, 0)
		up := slices.IndexFunc(c.nodes[:3], func(n *clusterNode) bool { return n.name == st.Member })
		if up < 0 {
			t.Fatalf("the last backup was uploaded by %q, not a member", st.Member)
		}
		killed := time.Now()
		c.nodes[up].v.Close()
		other := (up + 1) % 3
		waitFor(ctx, t, "another member to upload", func() bool {
			bs := c.backupStatus(ctx, t, key, other)
			return bs.Member != "" && bs.Member != st.Member && bs.Last.After(killed)
		})
		t.Logf("uploader %s killed; %s uploaded %s later", st.Member, c.backupStatus(ctx, t, key, other).Member, time.Since(killed).Round(time.Second))
		if up == 0 { // the killed node stays down (2 of 3 keep the quorum): etcd-b stands in
			src, a = 1, c.client(1, good)
		}

		// on demand, and what it holds
		putThenGet(ctx, t, a, a, "/day2/before-backup-now", "yes")
		all, err := a.Get(ctx, "/day2/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range all.Kvs {
			inBackup = append(inBackup, string(kv.Key))
		}
		out := c.mustSSH(ctx, t, key, src, "firstboot backup now")
		if !regexp.MustCompile(`backup: s3://backups/day2/day2-\S+\.db\.age \(revision \d+`).MatchString(out) {
			t.Errorf("firstboot backup now said %q", out)
		}

		// the restore drill, with the age identity given at the time
		c.mustSSH(ctx, t, key, src, "umask 077; echo "+ageSecret+" > /run/drill.key")
		out = c.mustSSH(ctx, t, key, src, "firstboot backup verify --identity /run/drill.key")
		if !strings.Contains(out, "restore drill passed") || !strings.Contains(out, "last verified restorable revision") {
			t.Errorf("backup verify said %q", out)
		}
		if bs := c.backupStatus(ctx, t, key, src); bs.VerifiedRevision == 0 {
			t.Errorf("status after a passed drill: %+v, want a verified revision", bs)
		}
		// a damaged backup fails it (the second newest: retention keeps it for a while)
		ks := watch.list()
		bad := ks[len(ks)-2]
		damage(t, bucket, bad)
		out, err = c.ssh(ctx, key, src, "firstboot backup verify --identity /run/drill.key --key "+bad)
		if err == nil || !strings.Contains(out, "restore drill FAILED") {
			t.Errorf("backup verify of a damaged object: %v\n%s", err, out)
		}
		t.Logf("verify of damaged %s: %s", bad, out)
	}) {
		return
	}

	if !t.Run("snapshot and restore", func(t *testing.T) {
		putThenGet(ctx, t, a, a, "/day2/in-snapshot", "yes")
		db, sidecar, err := key.exec(ctx, c.inNetns, c.nodes[src].ip.String(), sshPort, "firstboot snapshot --out -")
		if err != nil {
			t.Fatalf("firstboot snapshot: %v\n%s", err, sidecar)
		}
		var sc struct {
			SHA256   string `json:"sha256"`
			Size     int64  `json:"size"`
			Revision int64  `json:"revision"`
			Cluster  string `json:"cluster"`
			Member   string `json:"member"`
		}
		if err := json.Unmarshal(sidecar, &sc); err != nil {
			t.Fatalf("sidecar: %v\n%s", err, sidecar)
		}
		sum := sha256.Sum256(db)
		if got := hex.EncodeToString(sum[:]); got != sc.SHA256 || int64(len(db)) != sc.Size || sc.Revision == 0 || sc.Cluster != "day2" || sc.Member != c.nodes[src].name {
			t.Fatalf("sidecar %+v for a snapshot of %d bytes with sha256 %s", sc, len(db), got)
		}
		want, err := a.Get(ctx, "/day2/", clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}

		// serve it inside the namespace as a backup server would: https, by name, with a
		// certificate from a private CA, behind the proxy
		l, err := c.net.Listen("tcp", c.net.Gateway().String()+":443")
		if err != nil {
			t.Fatal(err)
		}
		backupCA := tlstest.NewCA(t, "qemu-tests backup server CA")
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write(db)
		}), TLSConfig: &tls.Config{Certificates: []tls.Certificate{backupCA.Leaf(t, []string{"backups.etcd.test"})}}}
		go srv.ServeTLS(l, "", "")
		t.Cleanup(func() { srv.Close() })
		url := "https://backups.etcd.test/day2.db"
		fetchVia := "network: {proxy: '" + c.net.ProxyURL() + "'}\n"
		trust := "trust:\n  ca_certs: [" + strconv.Quote(backupCA.PEM) + "]\n"

		for _, n := range c.nodes {
			if n.v != nil {
				n.v.Close()
			}
		}
		restore := func(extra string, idx ...int) string {
			return "version: 1\ncluster:\n  name: restored\n" + c.membersOf(idx...) + ca.tlsYAML() + tcgTuning + fetchVia + extra +
				"ssh_authorized_keys: ['" + key.public + "']\nrestore: {source: '" + url + "', sha256: '" + sc.SHA256 + "'}\n"
		}
		// without the server's CA the node refuses, naming the URL and the TLS error, before
		// its blank disk is touched
		if err := vm.CreateBlankDisk(ctx, c.nodes[0].disk, dataDiskSize); err != nil {
			t.Fatal(err)
		}
		before := fileSHA256(t, c.nodes[0].disk)
		v := c.start(0, restore("", 0))
		waitRefused(ctx, t, v, regexp.MustCompile(`etcd-appliance: restore: restore.source `+regexp.QuoteMeta(url)+`: tls: failed to verify certificate: x509: certificate signed by unknown authority`))
		v.Close()
		if fileSHA256(t, c.nodes[0].disk) != before {
			t.Error("the refused restore changed the data disk")
		}

		// etcd-e comes back on a network without DHCP (a MAC the DHCP server does not know),
		// addressed by ip= on the kernel command line, with the DNS server given there too
		e := c.nodes[4]
		e.mac = "52:54:00:77:00:ee"
		gw := c.net.Gateway()
		e.kargs = fmt.Sprintf("ip=%s::%s:255.255.255.0:%s::off nameserver=%s", e.ip, gw, e.name, gw)

		// a new three-member cluster from the snapshot
		for _, i := range []int{2, 3, 4} {
			if err := vm.CreateBlankDisk(ctx, c.nodes[i].disk, dataDiskSize); err != nil {
				t.Fatal(err)
			}
			c.start(i, restore(trust, 2, 3, 4))
		}
		c.waitBooted(ctx, 2, 3, 4)
		if err := c.net.WaitProxyLog(ctx, "CONNECT backups.etcd.test:443"); err != nil {
			t.Errorf("the restore did not go through the proxy: %v\n%s", err, c.net.ProxyLog())
		}
		if strings.Contains(c.net.DHCPLog(), "DHCPACK(br0) "+e.ip.String()+" "+e.mac) {
			t.Errorf("%s got a DHCP lease: the ip= path was not tested", e.name)
		}
		ec := c.client(4, good)
		waitVoters(ctx, t, ec, "etcd-c", "etcd-d", "etcd-e")
		for _, i := range []int{2, 3, 4} {
			cli := c.client(i, good)
			got, err := cli.Get(shortCtx(ctx), "/day2/", clientv3.WithPrefix(), clientv3.WithSerializable())
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Kvs) != len(want.Kvs) {
				t.Fatalf("%s: %d keys after restore, want %d", c.nodes[i].name, len(got.Kvs), len(want.Kvs))
			}
			for j := range got.Kvs {
				if string(got.Kvs[j].Key) != string(want.Kvs[j].Key) || string(got.Kvs[j].Value) != string(want.Kvs[j].Value) {
					t.Errorf("%s: key %d is %s=%s, want %s=%s", c.nodes[i].name, j, got.Kvs[j].Key, got.Kvs[j].Value, want.Kvs[j].Key, want.Kvs[j].Value)
				}
			}
		}
		putThenGet(ctx, t, ec, c.client(2, good), "/restored/writable", "yes")
		// a reboot keeps the restored data (restore: stays in the user-data)
		c.nodes[3].v.Close()
		c.start(3, restore(trust, 2, 3, 4))
		c.waitBooted(ctx, 3)
		c.checkKeys(ctx, t, 3, good, "/day2/in-snapshot", "/restored/writable")
	}) {
		return
	}

	// a new cluster from the latest backup in the store, decrypted with the age identity
	t.Run("restore from S3, encrypted", func(t *testing.T) {
		if err := vm.CreateBlankDisk(ctx, c.nodes[0].disk, dataDiskSize); err != nil {
			t.Fatal(err)
		}
		cfg := "version: 1\ncluster:\n  name: from-s3\n" + c.membersOf(0) + ca.tlsYAML() + tcgTuning + s3Trust +
			"ssh_authorized_keys: ['" + key.public + "']\n" + backupYAML("from-s3", "etcd.test", "") +
			"restore: {source: 's3://backups/day2', age_identity: " + ageSecret + "}\n"
		v := c.start(0, cfg)
		if _, err := v.WaitConsole(ctx, regexp.MustCompile(`etcd-appliance: restore: s3://backups/day2/day2-\S+ is good: revision \d+`)); err != nil {
			t.Fatal(err)
		}
		c.waitBooted(ctx, 0)
		got, err := c.client(0, good).Get(shortCtx(ctx), "/day2/", clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithSerializable())
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, kv := range got.Kvs {
			keys = append(keys, string(kv.Key))
		}
		if miss := missingKeys(keys, inBackup); len(inBackup) == 0 || len(miss) > 0 {
			t.Errorf("restored from S3: %d keys, missing %q of the %d acknowledged before the backup", len(keys), miss, len(inBackup))
		}
	})
}
