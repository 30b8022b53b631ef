package qemutests

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestBackupBench measures a backup of a database of at least 100 MiB to the test network's
// S3 server, the restore drill on it, and a new member restoring it, on one amd64 node. Only
// `make bench` runs it (BENCH_BACKUP=1); it prints one line that bench.sh puts in BENCHMARKS.md.
func TestBackupBench(t *testing.T) {
	if os.Getenv("BENCH_BACKUP") != "1" {
		t.Skip("a benchmark: make bench (BENCH_BACKUP=1)")
	}
	s3, s3CA := s3Server(t, "etcd.test")
	c := newTestClusterOn(t, clusterNet{Domain: "etcd.test", Records: map[string][]netip.Addr{"s3": {clusterGateway}}, S3: s3}, "etcd-a", "etcd-b")
	ca := c.newCA(t, "qemu-tests backup bench CA")
	key := newSSHKey(t)
	defer c.logJournals(t, key)
	config := func(cluster, restore string, i int) string {
		return "version: 1\ncluster:\n  name: " + cluster + "\n" + c.membersOf(i) + ca.tlsYAML() + tcgTuning +
			"ssh_authorized_keys: ['" + key.public + "']\ntrust:\n  ca_certs: [" + strconv.Quote(s3CA) + "]\n" +
			backupYAML(cluster, "etcd.test", ", interval: 168h") + restore
	}
	good := ca.clientTLS(t, "bench")
	ctx, cancel := context.WithTimeout(t.Context(), 4*vmTimeout(t))
	defer cancel()
	c.start(0, config("bench", "", 0))
	c.waitBooted(ctx, 0)
	a := c.client(0, good)
	value := make([]byte, 1<<20)
	for i := range 105 {
		rand.Read(value)
		if _, err := a.Put(shortCtx(ctx), fmt.Sprintf("/bench/%03d", i), string(value)); err != nil {
			t.Fatal(err)
		}
	}
	st, err := a.Status(shortCtx(ctx), c.endpoint(0))
	if err != nil {
		t.Fatal(err)
	}
	// a 100 MiB backup takes minutes under TCG: longer than the harness's one-minute commands
	long := func(command string) string {
		out, stderr, err := key.execFor(ctx, 15*time.Minute, c.inNetns, c.nodes[0].ip.String(), sshPort, command)
		if err != nil {
			t.Fatalf("%s: %v\n%s%s", command, err, out, stderr)
		}
		return string(out)
	}
	start := time.Now()
	long("firstboot backup now")
	backup := time.Since(start)
	out := long("firstboot backup verify")
	m := regexp.MustCompile(`took ([0-9.]+)s`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("backup verify said %q", out)
	}
	c.nodes[0].v.Close()
	start = time.Now()
	c.start(1, config("bench-restored", "restore: {source: 's3://"+s3Bucket+"/bench'}\n", 1))
	c.waitBooted(ctx, 1)
	restore := time.Since(start)
	c.checkKeys(ctx, t, 1, good, "/bench/104")
	t.Logf("backup bench: db %d MiB; backup now %.1f s; restore drill %s s (passed); power-on to a restored healthy member %.1f s",
		st.DbSize>>20, backup.Seconds(), m[1], restore.Seconds())
}
