package qemutests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// buildNext builds the amd64 image again from this tree as the next version: what an
// operator reimages to. It returns the image directory.
func buildNext(t *testing.T, version string) *images {
	t.Helper()
	ib := os.Getenv("IMAGEBUILD")
	if ib == "" {
		missing(t, "IMAGEBUILD must name the image builder")
	}
	out := workDir(t)
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ib, "build", "--arch", "amd64", "--format", "qcow2,kernel", "--version", version, "--out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", version, err, b)
	}
	return loadImagesFrom(t, out)
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

// TestRollingReimage reimages a 3-node cluster from image v1 to v2 one node at a time, each
// after `firstboot upgrade-check` says it may go down, while a client on the host writes
// continuously: no acknowledged write is lost, every member keeps its ID, every node runs v2.
// The cluster also has scheduled snapshots: each member takes its first once healthy.
func TestRollingReimage(t *testing.T) {
	if !archSelected("amd64") {
		t.Skip("amd64 not in QEMU_TESTS_ARCHES")
	}
	c := newTestCluster(t, "etcd-a", "etcd-b", "etcd-c")
	v1 := loadImages(t).m.Version
	v2 := v1 + ".next"
	next := buildNext(t, v2)
	ca := c.newCA(t, "qemu-tests reimage CA")
	key := newSSHKey(t)
	c.userData = "version: 1\ncluster:\n  name: reimage\n" + c.members() + ca.tlsYAML() + tcgTuning +
		"ssh_authorized_keys: ['" + key.public + "']\nsnapshots: {interval_minutes: 60, keep: 2}\n"
	good := ca.clientTLS(t, "reimage")
	ctx, cancel := context.WithTimeout(t.Context(), 5*vmTimeout(t))
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
	w := startWriter(ctx, c.clientAll(good))

	for i, n := range c.nodes {
		// the pre-flight: wait until this node may go down without losing quorum
		var out string
		for {
			var err error
			if out, err = c.ssh(ctx, key, i, "firstboot upgrade-check"); err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("%s: upgrade-check never said ok: %s", n.name, out)
			}
			time.Sleep(2 * time.Second)
		}
		t.Logf("%s: %s", n.name, strings.TrimSpace(out))
		// an orderly shutdown, as a cloud's stop or reimage does
		c.ssh(ctx, key, i, "systemctl poweroff")
		select {
		case <-n.v.Done():
		case <-time.After(2 * time.Minute):
			t.Logf("%s: did not power off in 2 minutes; killing it", n.name)
		}
		n.v.Close()
		c.loadKernel(t, next)
		c.start(i, "")
		if _, err := n.v.WaitConsole(ctx, regexp.MustCompile(`etcd-appliance: image `+regexp.QuoteMeta(v2)+` `)); err != nil {
			t.Fatal(err)
		}
		c.waitBooted(ctx, i)
		if err := c.waitHealthy(ctx, i); err != nil {
			t.Fatal(err)
		}
		if got := waitVoters(ctx, t, all3, "etcd-a", "etcd-b", "etcd-c"); got[n.name] != ids[n.name] {
			t.Errorf("%s came back as member %x, want %x", n.name, got[n.name], ids[n.name])
		}
	}
	acked, failed := w.finish()
	t.Logf("writer: %d puts acknowledged, %d failed during the rolling reimage", len(acked), failed)
	checkAcked(ctx, t, all3, acked)
	for i, n := range c.nodes {
		if st := c.status(ctx, t, key, i); !strings.HasPrefix(st.Image, v2+" ") || st.MemberID != fmt.Sprintf("%x", ids[n.name]) {
			t.Errorf("%s: status reports image %q member %s, want %s and %x", n.name, st.Image, st.MemberID, v2, ids[n.name])
		}
	}
}
