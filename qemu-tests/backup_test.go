package qemutests

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/internal/backup"
	"github.com/etcd-appliance/appliance/internal/tlstest"
	"github.com/etcd-appliance/appliance/internal/vmnet"
)

// The day-2 cluster's backups: to the test network's S3 server, by name over https with a
// private CA, every backupEvery, encrypted to an age key.
const (
	s3Bucket    = "backups"
	s3Access    = "qemu-tests"
	s3Secret    = "qemu-tests-secret-key"
	backupEvery = 20 * time.Second
	// an age key pair (age-keygen): the nodes get only the public key
	ageSecret = "AGE-SECRET-KEY-1GP3GCQ3ZQX6H8TDUMSH76N7ECU0GYCWNN70PRVUJ23QG3SRSY9FQ2XAF4E"
	agePublic = "age184x0lhg6mge09vya7twkn75fqmplhkzek6zw52lxm3fjvyky53rsaasr5c"
)

// s3Server is an S3 server for the test network with a certificate for s3.<domain> from a
// CA of its own, and that CA's PEM for the nodes' trust.ca_certs.
func s3Server(t *testing.T, domain string) (*vmnet.S3, string) {
	t.Helper()
	ca := tlstest.NewCA(t, "qemu-tests S3 CA")
	leaf := ca.Leaf(t, []string{"s3." + domain})
	k, err := x509.MarshalPKCS8PrivateKey(leaf.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return &vmnet.S3{
		CertPEM:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Certificate[0]}),
		KeyPEM:    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k}),
		AccessKey: s3Access, SecretKey: s3Secret, Buckets: []string{s3Bucket},
	}, ca.PEM
}

// backupYAML is a backup section for prefix in the test S3 server's bucket.
func backupYAML(prefix, domain, extra string) string {
	return "backup: {url: 's3://" + s3Bucket + "/" + prefix + "', endpoint: 'https://s3." + domain + ":9000', path_style: true, " +
		"access_key_id: " + s3Access + ", secret_access_key: " + s3Secret + extra + "}\n"
}

// bucketWatch notes when each backup object first appears in the S3 server's directory, as
// the host sees it: whose clock wrote the object's name does not matter.
type bucketWatch struct {
	dir  string
	mu   sync.Mutex
	seen map[string]time.Time
}

func watchBucket(ctx context.Context, dir string) *bucketWatch {
	w := &bucketWatch{dir: dir, seen: map[string]time.Time{}}
	go func() {
		for ctx.Err() == nil {
			for _, k := range w.list() {
				w.mu.Lock()
				if _, ok := w.seen[k]; !ok {
					w.seen[k] = time.Now()
				}
				w.mu.Unlock()
			}
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	return w
}

// list is the backups in the directory now.
func (w *bucketWatch) list() []string {
	ents, _ := os.ReadDir(w.dir)
	var ks []string
	for _, e := range ents {
		if _, _, _, ok := backup.ParseKey(e.Name()); ok {
			ks = append(ks, e.Name())
		}
	}
	slices.Sort(ks)
	return ks
}

// appeared is every backup seen so far by when it appeared, oldest first.
func (w *bucketWatch) appeared() []time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	var ts []time.Time
	for _, t := range w.seen {
		ts = append(ts, t)
	}
	slices.SortFunc(ts, time.Time.Compare)
	return ts
}

// waitCount waits until n backups have appeared.
func (w *bucketWatch) waitCount(ctx context.Context, t *testing.T, n int) {
	t.Helper()
	for len(w.appeared()) < n {
		select {
		case <-ctx.Done():
			t.Fatalf("%d backups appeared, want %d: %q", len(w.appeared()), n, w.list())
		case <-time.After(time.Second):
		}
	}
}

// backupState is the backup part of `firstboot status --json`.
type backupState struct {
	URL              string    `json:"url"`
	Last             time.Time `json:"last"`
	Key              string    `json:"key"`
	Revision         int64     `json:"revision"`
	Member           string    `json:"member"`
	Error            string    `json:"error"`
	Failed           time.Time `json:"failed"`
	VerifiedRevision int64     `json:"verified_revision"`
}

func (c *testCluster) backupStatus(ctx context.Context, t *testing.T, key sshKey, i int) backupState {
	t.Helper()
	out := c.mustSSH(ctx, t, key, i, "firstboot status --json || true")
	var st struct {
		Backup *backupState `json:"backup"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Backup == nil {
		t.Fatalf("status --json of %s: %v, no backup part:\n%s", c.nodes[i].name, err, out)
	}
	return *st.Backup
}

// damage flips bytes in the middle of the object file key in dir, keeping its size.
func damage(t *testing.T, dir, key string) {
	t.Helper()
	p := filepath.Join(dir, key)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(b) / 2; i < len(b)/2+16 && i < len(b); i++ {
		b[i] ^= 0xff
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// hasAll tells which of want are missing from got.
func missingKeys(got, want []string) []string {
	var miss []string
	for _, k := range want {
		if !slices.Contains(got, k) {
			miss = append(miss, k)
		}
	}
	return miss
}

// waitFor polls cond every two seconds until it holds, failing the test when ctx ends.
func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(2 * time.Second):
		}
	}
}

// servedMetrics is the metric names in a Prometheus text page.
func servedMetrics(page string) map[string]bool {
	names := map[string]bool{}
	for _, line := range strings.Split(page, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names
}
