// Package snapshot saves, describes, fetches and restores etcd snapshots: the .db file a
// member streams, a JSON sidecar that says what it is (sha256, size, revision, cluster,
// member), fetching a snapshot by URL with its sha256 verified, and restoring it with
// etcdutl into a new member's data directory.
package snapshot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Sidecar describes a snapshot file; it is written beside it as NAME.json.
type Sidecar struct {
	File        string    `json:"file"`
	SHA256      string    `json:"sha256"`
	Size        int64     `json:"size"`
	Revision    int64     `json:"revision"`
	Keys        int64     `json:"keys"`
	Time        time.Time `json:"time"`
	Cluster     string    `json:"cluster"`
	ClusterID   string    `json:"cluster_id"`
	Member      string    `json:"member"`
	MemberID    string    `json:"member_id"`
	EtcdVersion string    `json:"etcd_version,omitempty"`
	Image       string    `json:"image,omitempty"`
}

// FileSHA256 is the hex sha256 and size of the file at path.
func FileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// Status is what etcdutl reads from a snapshot file.
type Status struct {
	Hash      uint32 `json:"hash"`
	Revision  int64  `json:"revision"`
	TotalKey  int64  `json:"totalKey"`
	TotalSize int64  `json:"totalSize"`
	Version   string `json:"version"`
}

// Describe reads a snapshot's revision and key count with etcdutl (the snapshot's own
// bolt database is the only exact source of its revision).
func Describe(ctx context.Context, etcdutl, path string) (Status, error) {
	out, err := exec.CommandContext(ctx, etcdutl, "snapshot", "status", "--write-out", "json", path).Output()
	if err != nil {
		return Status{}, fmt.Errorf("etcdutl snapshot status %s: %w%s", path, err, stderr(err))
	}
	var s Status
	if err := json.Unmarshal(out, &s); err != nil {
		return Status{}, fmt.Errorf("etcdutl snapshot status %s: %w", path, err)
	}
	return s, nil
}

func stderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
		return ": " + strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}

// WriteSidecar writes s as JSON beside the snapshot (NAME.db → NAME.json).
func WriteSidecar(dbPath string, s Sidecar) (string, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return "", err
	}
	p := strings.TrimSuffix(dbPath, filepath.Ext(dbPath)) + ".json"
	return p, os.WriteFile(p, append(b, '\n'), 0o600)
}

// Restore makes a data directory for member name of a new cluster from the snapshot at db,
// with etcdutl, owned by uid:gid (etcd's user). It works in a temporary directory beside
// dataDir and moves the member directory into dataDir only when all else succeeded, so a
// failed restore leaves no data.
func Restore(ctx context.Context, etcdutl, db, dataDir, name, peerURL, initialCluster, token string, uid, gid int) error {
	tmp := dataDir + ".restore"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, etcdutl, "snapshot", "restore", db,
		"--name", name, "--initial-cluster", initialCluster, "--initial-cluster-token", token,
		"--initial-advertise-peer-urls", peerURL, "--data-dir", tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("etcdutl snapshot restore: %w: %s", err, lastLines(out, 5))
	}
	if err := chownTree(tmp, uid, gid); err != nil {
		return fmt.Errorf("giving the restored data to etcd: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(tmp, "member"), filepath.Join(dataDir, "member")); err != nil {
		return fmt.Errorf("moving the restored member into %s: %w", dataDir, err)
	}
	return nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

func chownTree(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}
