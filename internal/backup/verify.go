package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/etcd-appliance/appliance/internal/objstore"
)

// Runner runs a program and returns its standard output; tests fake etcdutl with it.
type Runner func(ctx context.Context, name string, args ...string) ([]byte, error)

// ExecRunner runs name (looked up in PATH) and returns its standard output; on failure the
// error carries the last lines of its standard error.
func ExecRunner(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, tail(stderr.String(), 5))
	}
	return out, nil
}

// tail is the last n lines of s on one line.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

// VerifyResult is a restore drill that passed.
type VerifyResult struct {
	Key      string
	Revision int64
	HashKV   uint32
	Took     time.Duration
}

// drill names the throwaway one-member cluster the backup is restored into.
const (
	drillName = "drill"
	drillPeer = "http://localhost:2380"
)

// Verify is the restore drill: it downloads backup key into scratch/backup.db, restores it
// with etcdutl into scratch/data as a one-member cluster, and checks that etcdutl's hashkv of
// the restored keyspace at the backup's revision is the hash the member gave when the backup
// was taken. Only that proves the backup holds the keyspace, not merely the bytes that were
// uploaded. scratch belongs to Verify: it is emptied first (a drill killed half-way leaves it
// behind) and removed afterwards, pass or fail; it needs room for the snapshot twice.
func Verify(ctx context.Context, st objstore.Store, key string, ids []age.Identity, scratch string, run Runner) (VerifyResult, error) {
	start := time.Now()
	if c := filepath.Clean(scratch); scratch == "" || c == "/" || c == "." {
		return VerifyResult{}, fmt.Errorf("verify: scratch %q: give a directory of its own", scratch)
	}
	if err := os.RemoveAll(scratch); err != nil {
		return VerifyResult{}, fmt.Errorf("verify: emptying %s: %w", scratch, err)
	}
	if err := os.MkdirAll(scratch, 0o700); err != nil {
		return VerifyResult{}, fmt.Errorf("verify: %w", err)
	}
	defer os.RemoveAll(scratch)

	// without a recorded hash there is nothing to compare with: say so before downloading
	url := where(st, key)
	o, err := st.Stat(ctx, key)
	if err != nil {
		return VerifyResult{}, err
	}
	if m, err := ParseMeta(o.Meta); err == nil && m.HashKV == 0 {
		return VerifyResult{}, fmt.Errorf("verify %s: the backup carries no recorded hash (metadata %q), so its restore cannot be checked against the cluster it came from", url, mHashKV)
	}
	db := filepath.Join(scratch, "backup.db")
	m, err := downloadFile(ctx, st, key, ids, db)
	if err != nil {
		return VerifyResult{}, fmt.Errorf("verify: %w", err)
	}

	data := filepath.Join(scratch, "data")
	if _, err := run(ctx, "etcdutl", "snapshot", "restore", db, "--data-dir", data,
		"--name", drillName, "--initial-cluster", drillName+"="+drillPeer,
		"--initial-advertise-peer-urls", drillPeer); err != nil {
		return VerifyResult{}, fmt.Errorf("verify %s: restoring it: %w", url, err)
	}
	// the restore has its own copy; free the room before the next step
	os.Remove(db)

	out, err := run(ctx, "etcdutl", "hashkv", filepath.Join(data, "member", "snap", "db"),
		"--rev", strconv.FormatInt(m.Revision, 10), "-w", "json")
	if err != nil {
		return VerifyResult{}, fmt.Errorf("verify %s: hashing the restored keyspace: %w", url, err)
	}
	h, err := parseHashKV(out)
	if err != nil {
		return VerifyResult{}, fmt.Errorf("verify %s: etcdutl hashkv: %w", url, err)
	}
	if h.HashRevision != m.Revision {
		return VerifyResult{}, fmt.Errorf("verify %s: etcdutl hashed revision %d, not the backup's %d", url, h.HashRevision, m.Revision)
	}
	if h.Hash != m.HashKV {
		msg := fmt.Sprintf("verify %s: the restored keyspace hashes to %d at revision %d, but the member reported %d when the backup was taken",
			url, h.Hash, m.Revision, m.HashKV)
		if h.CompactRevision != m.CompactRevision {
			// the hash covers only revisions after the compaction: a different compaction
			// point changes it without any data being wrong
			return VerifyResult{}, fmt.Errorf("%s; the compact revisions differ too (restored %d, recorded %d), so the cluster compacted between the hash and the snapshot and the check is inconclusive", msg, h.CompactRevision, m.CompactRevision)
		}
		return VerifyResult{}, errors.New(msg + ": the backup does not hold the keyspace it claims")
	}
	return VerifyResult{Key: key, Revision: m.Revision, HashKV: h.Hash, Took: time.Since(start)}, nil
}

// hashKV is etcdutl hashkv -w json's output (etcdutl.HashKV in etcd v3.6).
type hashKV struct {
	Hash            uint32 `json:"hash"`
	HashRevision    int64  `json:"hashRevision"`
	CompactRevision int64  `json:"compactRevision"`
}

func parseHashKV(out []byte) (hashKV, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(bytes.TrimSpace(out), &raw); err != nil {
		return hashKV{}, fmt.Errorf("output %q is not JSON: %w", tail(string(out), 1), err)
	}
	// a missing field would otherwise read as 0, and a 0 hash could pass as a match
	for _, f := range []string{"hash", "hashRevision", "compactRevision"} {
		if _, ok := raw[f]; !ok {
			return hashKV{}, fmt.Errorf("output %q has no %q", tail(string(out), 1), f)
		}
	}
	var h hashKV
	if err := json.Unmarshal(bytes.TrimSpace(out), &h); err != nil {
		return hashKV{}, fmt.Errorf("output %q: %w", tail(string(out), 1), err)
	}
	return h, nil
}

// downloadFile is Download into a new file at path, removed again on failure.
func downloadFile(ctx context.Context, st objstore.Store, key string, ids []age.Identity, path string) (Meta, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Meta{}, err
	}
	m, err := Download(ctx, st, key, ids, f)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("writing %s: %w", path, cerr)
	}
	if err != nil {
		os.Remove(path)
		return Meta{}, err
	}
	return m, nil
}
