package qemutests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-appliance/appliance/image"
)

// reimageFrom is the commit whose image TestRollingReimage starts from: main before etcd
// v3.7 became the default (it runs v3.6.16). Every later change must keep this roll working;
// moving the pin forward drops that guard for the commits in between.
const reimageFrom = "8fcc71b6fc0680587f956563bb9381f6bc012be5"

// buildImage builds the amd64 image (qcow2 and the direct-boot files) as version with the
// builder ib, run in src (its repository), plus extra flags. It returns the image directory.
func buildImage(t *testing.T, ib, src, version string, extra ...string) *images {
	t.Helper()
	out := workDir(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Minute)
	defer cancel()
	args := append([]string{"build", "--arch", "amd64", "--format", "qcow2,kernel", "--version", version, "--out", out}, extra...)
	cmd := exec.CommandContext(ctx, ib, args...)
	cmd.Dir = src
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", version, err, b)
	}
	return loadImagesFrom(t, out)
}

// builder is the image builder of this tree (IMAGEBUILD).
func builder(t *testing.T) string {
	ib := os.Getenv("IMAGEBUILD")
	if ib == "" {
		missing(t, "IMAGEBUILD must name the image builder")
	}
	return ib
}

// buildAtCommit builds the amd64 image of an older commit of this repository, with that
// commit's own builder: the image a user of that commit runs.
func buildAtCommit(t *testing.T, repo, commit string) *images {
	t.Helper()
	src := workDir(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	archive := exec.CommandContext(ctx, "sh", "-c", `git archive "$1" | tar -x -C "$2"`, "sh", commit, src)
	archive.Dir = repo // git archive in a subdirectory takes only that subtree
	if b, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("extracting commit %s (the test needs the repository's history: a full clone): %v\n%s", commit, err, b)
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", "bin/imagebuild", "./cmd/imagebuild")
	build.Dir = src
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the image builder of %s: %v\n%s", commit, err, b)
	}
	return buildImage(t, filepath.Join(src, "bin", "imagebuild"), src, "old-"+commit[:7])
}

// writer puts keys through every member until stopped, retrying nothing: a put either is
// acknowledged (and recorded) or failed (and may or may not have been applied).
type writer struct {
	mu     sync.Mutex
	acked  map[string]string
	failed int
	stop   chan struct{}
	done   chan struct{}
}

func startWriter(ctx context.Context, cli *clientv3.Client) *writer {
	w := &writer{acked: map[string]string{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			case <-ctx.Done():
				return
			default:
			}
			k, v := fmt.Sprintf("/writer/%06d", i), fmt.Sprintf("value %d at %s", i, time.Now().Format(time.RFC3339Nano))
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := cli.Put(pctx, k, v)
			cancel()
			w.mu.Lock()
			if err == nil {
				w.acked[k] = v
			} else {
				w.failed++
			}
			w.mu.Unlock()
			time.Sleep(50 * time.Millisecond) // a steady client, not a load test
		}
	}()
	return w
}

func (w *writer) finish() (map[string]string, int) {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.acked, w.failed
}

// TestRollingReimage is the upgrade users make, and the way back. A 3-node cluster booted from
// the image of an older commit (reimageFrom: etcd v3.6) is reimaged one node at a time to this
// tree's image (etcd v3.7 by default), each after `firstboot upgrade-check` says it may go
// down, while a client on the host writes continuously: no acknowledged write is lost, every
// member keeps its ID, and the cluster version moves to 3.7 once the last member runs it. Then
// it downgrades by etcd's procedure: `upgrade-check --to-etcd v3.6.x` refuses until
// `firstboot downgrade enable v3.6`, every member's storage version follows, and a rolling
// reimage to this tree built with etcd v3.6 ends on cluster version 3.6, the writes kept.
// The cluster also has scheduled snapshots: each member takes its first once healthy.
func TestRollingReimage(t *testing.T) {
	if !archSelected("amd64") {
		t.Skip("amd64 not in QEMU_TESTS_ARCHES")
	}
	cur := loadImages(t)
	src, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	old := buildAtCommit(t, src, reimageFrom)
	pins, err := image.PinnedEtcdVersions(src)
	if err != nil {
		t.Fatal(err)
	}
	i36 := slices.IndexFunc(pins, func(v string) bool { return strings.HasPrefix(v, "v3.6.") })
	if i36 < 0 {
		t.Fatalf("no v3.6 line among the pins %v: the downgrade goes to v3.6", pins)
	}
	etcd36 := pins[i36]
	down := buildImage(t, builder(t), src, cur.m.Version+".etcd36", "--etcd-version", etcd36)
	if old.m.EtcdVersion != etcd36 || !strings.HasPrefix(cur.m.EtcdVersion, "v3.7.") {
		t.Fatalf("images run etcd %s (old) and %s (now); the test rolls v3.6 to v3.7", old.m.EtcdVersion, cur.m.EtcdVersion)
	}

	c := newTestCluster(t, "etcd-a", "etcd-b", "etcd-c")
	c.loadKernel(t, old)
	ca := c.newCA(t, "qemu-tests reimage CA")
	key := newSSHKey(t)
	c.userData = "version: 1\ncluster:\n  name: reimage\n" + c.members() + ca.tlsYAML() + tcgTuning +
		"ssh_authorized_keys: ['" + key.public + "']\nsnapshots: {interval_minutes: 60, keep: 2}\n"
	good := ca.clientTLS(t, "reimage")
	ctx, cancel := context.WithTimeout(t.Context(), 8*vmTimeout(t))
	defer cancel()

	for i := range c.nodes {
		c.start(i, "")
	}
	c.waitAllBooted(ctx)
	all3 := c.client(0, good)
	ids := waitVoters(ctx, t, all3, "etcd-a", "etcd-b", "etcd-c")
	// scheduled snapshots: the first is taken as soon as the member is healthy
	for _, n := range c.nodes {
		if _, err := n.v.WaitConsole(ctx, regexp.MustCompile(`etcd-appliance: snapshot: /var/lib/etcd/snapshots/scheduled/reimage-`+n.name+`-\d{8}T\d{6}Z\.db \(revision \d+`)); err != nil {
			t.Errorf("%s: %v", n.name, err)
		}
	}
	waitClusterVersion(ctx, t, c, "3.6.")
	w := startWriter(ctx, c.clientAll(good))

	// the old image's upgrade-check knows no --to-etcd
	for i := range c.nodes {
		c.reimage(ctx, t, key, i, "firstboot upgrade-check", cur, ids, all3)
	}
	waitClusterVersion(ctx, t, c, "3.7.")

	// the way back: refused until the downgrade is enabled, then one minor down
	check := "firstboot upgrade-check --to-etcd " + etcd36
	if out, err := c.ssh(ctx, key, 0, check); err == nil || !strings.Contains(out, "downgrade enable") {
		t.Errorf("%s before the downgrade was enabled: %v %q, want a refusal naming firstboot downgrade enable", check, err, out)
	}
	t.Logf("%s", c.mustSSH(ctx, t, key, 0, "firstboot downgrade enable v3.6"))
	waitClusterVersion(ctx, t, c, "3.6.")
	for i, ep := range c.endpoints() {
		for {
			sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
			st, err := all3.Status(sctx, ep)
			scancel()
			if err == nil && strings.HasPrefix(st.StorageVersion, "3.6.") {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("%s: storage version never became 3.6 after the downgrade was enabled: %v %v", c.nodes[i].name, st, err)
			}
			time.Sleep(2 * time.Second)
		}
	}
	for i := range c.nodes {
		c.reimage(ctx, t, key, i, check, down, ids, all3)
	}
	waitClusterVersion(ctx, t, c, "3.6.")

	acked, failed := w.finish()
	t.Logf("writer: %d puts acknowledged, %d failed during the rolling reimages", len(acked), failed)
	checkAcked(ctx, t, all3, acked)
	for i, n := range c.nodes {
		if st := c.status(ctx, t, key, i); !strings.HasPrefix(st.Image, down.m.Version+" ") || st.MemberID != fmt.Sprintf("%x", ids[n.name]) {
			t.Errorf("%s: status reports image %q member %s, want %s and %x", n.name, st.Image, st.MemberID, down.m.Version, ids[n.name])
		}
	}
}

// reimage takes node i down once check (an upgrade-check) says it may go, with an orderly
// shutdown as a cloud's stop or reimage does, boots it on imgs with its data disk, and waits
// until it is healthy and a voter again under its old member ID.
func (c *testCluster) reimage(ctx context.Context, t *testing.T, key sshKey, i int, check string, imgs *images, ids map[string]uint64, cli *clientv3.Client) {
	t.Helper()
	n := c.nodes[i]
	var out string
	for {
		var err error
		if out, err = c.ssh(ctx, key, i, check); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%s: %s never said ok: %s", n.name, check, out)
		}
		time.Sleep(2 * time.Second)
	}
	t.Logf("%s: %s", n.name, strings.TrimSpace(out))
	c.ssh(ctx, key, i, "systemctl poweroff")
	select {
	case <-n.v.Done():
	case <-time.After(2 * time.Minute):
		t.Logf("%s: did not power off in 2 minutes; killing it", n.name)
	}
	n.v.Close()
	c.loadKernel(t, imgs)
	c.start(i, "")
	if _, err := n.v.WaitConsole(ctx, regexp.MustCompile(`etcd-appliance: image `+regexp.QuoteMeta(imgs.m.Version)+` `)); err != nil {
		t.Fatal(err)
	}
	c.waitBooted(ctx, i)
	if err := c.waitHealthy(ctx, i); err != nil {
		t.Fatal(err)
	}
	if got := waitVoters(ctx, t, cli, "etcd-a", "etcd-b", "etcd-c"); got[n.name] != ids[n.name] {
		t.Errorf("%s came back as member %x, want %x", n.name, got[n.name], ids[n.name])
	}
}

// waitClusterVersion waits until etcd's /version on every node reports a cluster version
// starting with prefix ("3.7."): the cluster version moves once every member runs the line.
func waitClusterVersion(ctx context.Context, t *testing.T, c *testCluster, prefix string) {
	t.Helper()
	client := c.tlsHealthClient()
	for i := range c.nodes {
		var last string
		for {
			var v struct {
				Cluster string `json:"etcdcluster"`
			}
			if err := getJSON(ctx, client, c.endpoint(i)+"/version", &v); err == nil {
				last = v.Cluster
				if strings.HasPrefix(v.Cluster, prefix) {
					break
				}
			}
			if ctx.Err() != nil {
				t.Fatalf("%s: cluster version %q, want %s*", c.nodes[i].name, last, prefix)
			}
			time.Sleep(2 * time.Second)
		}
	}
}
