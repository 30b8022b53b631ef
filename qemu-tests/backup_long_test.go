package qemutests

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-appliance/appliance/internal/vm"
)

// longTests gates the matrix that `make test-long` runs beside `make test`.
func longTests(t *testing.T) {
	t.Helper()
	if os.Getenv("QEMU_TESTS_LONG") != "1" {
		t.Skip("a long test: make test-long (QEMU_TESTS_LONG=1)")
	}
	if !archSelected("amd64") {
		t.Skip("amd64 not in QEMU_TESTS_ARCHES")
	}
}

// TestBackupsLong is the backup matrix beyond TestDayTwo's: a cluster under writes backs up
// over several intervals with the scheduled restore drill; a wrong credential and a stopped
// store show in the status and backups resume once fixed; after two of three members are
// destroyed, `recover` brings the cluster back from the latest backup and the others rejoin;
// and a new three-member cluster restores the latest backup.
func TestBackupsLong(t *testing.T) {
	longTests(t)
	names := []string{"etcd-a", "etcd-b", "etcd-c", "etcd-d", "etcd-e", "etcd-f"}
	s3, s3CA := s3Server(t, "etcd.test")
	c := newTestClusterOn(t, clusterNet{Domain: "etcd.test", Records: map[string][]netip.Addr{"s3": {clusterGateway}}, S3: s3}, names...)
	ca := c.newCA(t, "qemu-tests backups CA")
	key := newSSHKey(t)
	defer c.logJournals(t, key)
	s3Trust := "trust:\n  ca_certs: [" + strconv.Quote(s3CA) + "]\n"
	config := func(cluster, prefix, restore string, idx ...int) string {
		return "version: 1\ncluster:\n  name: " + cluster + "\n" + c.membersOf(idx...) + ca.tlsYAML() + tcgTuning +
			"ssh_authorized_keys: ['" + key.public + "']\n" + s3Trust +
			backupYAML(prefix, "etcd.test", fmt.Sprintf(", interval: %s, keep: 5, verify_interval: 30s", backupEvery)) + restore
	}
	good := ca.clientTLS(t, "long")
	ctx, cancel := context.WithTimeout(t.Context(), 8*vmTimeout(t))
	defer cancel()
	watch := watchBucket(ctx, filepath.Join(c.net.S3Dir(), s3Bucket, "long"))

	for i := range 3 {
		c.start(i, config("long", "long", "", 0, 1, 2))
	}
	c.waitBooted(ctx, 0, 1, 2)
	all := c.clientAll(good)
	w := startWriter(ctx, all)

	t.Run("backups under writes, and the scheduled drill", func(t *testing.T) {
		start := len(watch.appeared())
		watch.waitCount(ctx, t, start+3)
		ts := watch.appeared()
		for i := 1; i < len(ts); i++ {
			if gap := ts[i].Sub(ts[i-1]); gap < 5*time.Second {
				t.Errorf("backups %d and %d appeared %s apart: two members uploaded", i-1, i, gap)
			}
		}
		waitFor(ctx, t, "a scheduled restore drill", func() bool { return c.backupStatus(ctx, t, key, 1).VerifiedRevision > 0 })
		out := c.mustSSH(ctx, t, key, 1, "firstboot status || true")
		if !regexp.MustCompile(`restore drill: passed .*; last verified restorable revision \d+`).MatchString(out) {
			t.Errorf("status after the drill:\n%s", out)
		}
	})

	t.Run("a wrong credential, then a stopped store", func(t *testing.T) {
		for _, fault := range []struct {
			name, want  string
			break_, fix func() error
		}{
			{"wrong credential", "SignatureDoesNotMatch|signature",
				func() error { c.net.StopS3(); s3.SecretKey = "not-the-nodes-secret"; return c.net.StartS3() },
				func() error { c.net.StopS3(); s3.SecretKey = s3Secret; return c.net.StartS3() }},
			{"stopped store", "connection refused",
				c.net.StopS3, c.net.StartS3},
		} {
			if err := fault.break_(); err != nil {
				t.Fatal(err)
			}
			fixOnce := sync.OnceValue(fault.fix)
			t.Cleanup(func() { fixOnce() }) // the store is whole again for the next subtests
			// failing, and perhaps stale by then: "BACKUP FAILING: …" or "BACKUP STALE (…; failing: …)"
			want := regexp.MustCompile(`(BACKUP FAILING: |; failing: ).*(` + fault.want + `)`)
			var line string
			waitFor(ctx, t, fault.name+" in the status", func() bool {
				line = c.mustSSH(ctx, t, key, 0, "firstboot status || true") // (the image has no cat)
				return want.MatchString(line)
			})
			t.Logf("%s: %s", fault.name, strings.TrimSpace(line))
			if err := fixOnce(); err != nil {
				t.Fatal(err)
			}
			before := c.backupStatus(ctx, t, key, 0).Last
			waitFor(ctx, t, "backups to resume after the "+fault.name, func() bool {
				bs := c.backupStatus(ctx, t, key, 0)
				return bs.Last.After(before) && bs.Last.After(bs.Failed)
			})
		}
		// the agent never crashed: it ran the whole time
		if out := c.mustSSH(ctx, t, key, 0, "systemctl show -p NRestarts --value etcd-agent"); strings.TrimSpace(out) != "0" {
			t.Errorf("etcd-agent restarted %s times", strings.TrimSpace(out))
		}
	})

	var inBackup []string
	t.Run("recover from the latest backup after two members are destroyed", func(t *testing.T) {
		acked, _ := w.finish()
		for k := range acked {
			inBackup = append(inBackup, k)
		}
		slices.Sort(inBackup)
		c.mustSSH(ctx, t, key, 0, "firstboot backup now")
		for _, i := range []int{1, 2} {
			c.nodes[i].v.Close()
			if err := vm.CreateBlankDisk(ctx, c.nodes[i].disk, dataDiskSize); err != nil {
				t.Fatal(err)
			}
		}
		if out, err := c.ssh(ctx, key, 0, "firstboot recover --from latest"); err == nil || !strings.Contains(out, "--confirm-lost-quorum") {
			t.Errorf("recover without the confirmation: %v\n%s", err, out)
		}
		out := c.mustSSH(ctx, t, key, 0, "firstboot recover --confirm-lost-quorum --from latest")
		if !strings.Contains(out, "recovered: etcd-a is a new one-member cluster from backup") {
			t.Errorf("recover said %q", out)
		}
		a := c.client(0, good)
		c.checkKeys(ctx, t, 0, good, inBackup...)
		for _, i := range []int{1, 2} {
			c.start(i, config("long", "long", "", 0, 1, 2))
		}
		c.waitBooted(ctx, 1, 2)
		waitVoters(ctx, t, a, "etcd-a", "etcd-b", "etcd-c")
		c.checkKeys(ctx, t, 2, good, inBackup[len(inBackup)-1])
	})

	t.Run("a new three-member cluster restores the latest backup", func(t *testing.T) {
		for i := range 3 {
			c.nodes[i].v.Close()
		}
		restore := "restore: {source: 's3://" + s3Bucket + "/long'}\n"
		for _, i := range []int{3, 4, 5} {
			c.start(i, config("long-restored", "long-restored", restore, 3, 4, 5))
		}
		c.waitBooted(ctx, 3, 4, 5)
		waitVoters(ctx, t, c.client(3, good), "etcd-d", "etcd-e", "etcd-f")
		for _, i := range []int{3, 4, 5} {
			got, err := c.client(i, good).Get(shortCtx(ctx), "/writer/", clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithSerializable())
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, kv := range got.Kvs {
				keys = append(keys, string(kv.Key))
			}
			if miss := missingKeys(keys, inBackup); len(miss) > 0 {
				t.Errorf("%s: %d of the %d acknowledged keys missing after the restore, e.g. %s", c.nodes[i].name, len(miss), len(inBackup), miss[0])
			}
		}
	})
}
