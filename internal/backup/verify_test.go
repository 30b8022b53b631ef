package backup

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"
)

// fakeEtcdutl stands in for etcdutl: restore copies the snapshot to where etcdutl puts the
// member's bolt database, hashkv prints out.
type fakeEtcdutl struct {
	t          *testing.T
	want       []byte // the snapshot restore must be given
	restoreErr error
	hashErr    error
	out        string
	calls      [][]string
}

func (f *fakeEtcdutl) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	f.calls = append(f.calls, append([]string{name}, args...))
	switch {
	case name == "etcdutl" && len(args) > 2 && args[0] == "snapshot" && args[1] == "restore":
		if f.restoreErr != nil {
			return nil, f.restoreErr
		}
		b, err := os.ReadFile(args[2])
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(b, f.want) {
			f.t.Error("restore got other bytes than the snapshot")
		}
		data := args[slices.Index(args, "--data-dir")+1]
		db := filepath.Join(data, "member", "snap", "db")
		if err := os.MkdirAll(filepath.Dir(db), 0o700); err != nil {
			return nil, err
		}
		return nil, os.WriteFile(db, b, 0o600)
	case name == "etcdutl" && len(args) > 1 && args[0] == "hashkv":
		if _, err := os.Stat(args[1]); err != nil {
			return nil, err
		}
		return []byte(f.out), f.hashErr
	}
	f.t.Errorf("unexpected command %s %q", name, args)
	return nil, errors.New("unexpected")
}

func TestVerify(t *testing.T) {
	x := newX25519(t)
	const match = `{"hash":7,"hashRevision":42,"compactRevision":3}` + "\n"
	tests := []struct {
		name    string
		encrypt bool
		hashkv  uint32 // recorded; snap's default is 7 at compact revision 3
		edit    func(*memObj)
		fake    fakeEtcdutl
		wantErr string
	}{
		{name: "match", hashkv: 7, fake: fakeEtcdutl{out: match}},
		{name: "match, encrypted", encrypt: true, hashkv: 7, fake: fakeEtcdutl{out: match}},
		{name: "mismatch", hashkv: 7, fake: fakeEtcdutl{out: `{"hash":8,"hashRevision":42,"compactRevision":3}`},
			wantErr: "the restored keyspace hashes to 8 at revision 42, but the member reported 7 when the backup was taken: the backup does not hold the keyspace it claims"},
		{name: "mismatch after a compaction", hashkv: 7, fake: fakeEtcdutl{out: `{"hash":8,"hashRevision":42,"compactRevision":40}`},
			wantErr: "the compact revisions differ too (restored 40, recorded 3), so the cluster compacted between the hash and the snapshot and the check is inconclusive"},
		{name: "other revision hashed", hashkv: 7, fake: fakeEtcdutl{out: `{"hash":7,"hashRevision":43,"compactRevision":3}`},
			wantErr: "etcdutl hashed revision 43, not the backup's 42"},
		{name: "no recorded hash", hashkv: 0, fake: fakeEtcdutl{out: match},
			wantErr: `the backup carries no recorded hash (metadata "hashkv")`},
		{name: "restore fails", hashkv: 7, fake: fakeEtcdutl{restoreErr: errors.New("exit status 1: snapshot file has wrong sha256")},
			wantErr: "verify mem://bucket/prefix/prod-20261204T051500Z-r42.db: restoring it: exit status 1: snapshot file has wrong sha256"},
		{name: "hashkv fails", hashkv: 7, fake: fakeEtcdutl{hashErr: errors.New("exit status 1: mvcc: required revision has been compacted")},
			wantErr: "hashing the restored keyspace: exit status 1: mvcc: required revision has been compacted"},
		{name: "hashkv prints a table", hashkv: 7, fake: fakeEtcdutl{out: "7, 42, 3\n"},
			wantErr: `etcdutl hashkv: output "7, 42, 3" is not JSON`},
		{name: "hashkv without hash", hashkv: 7, fake: fakeEtcdutl{out: `{"hashRevision":42,"compactRevision":3}`},
			wantErr: `has no "hash"`},
		{name: "damaged download", hashkv: 7, edit: func(o *memObj) { o.data[0] ^= 1 }, fake: fakeEtcdutl{out: match},
			wantErr: "verify: backup mem://bucket/prefix/prod-20261204T051500Z-r42.db is damaged or was altered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, data, m := snap(t, 5000)
			m.HashKV = tt.hashkv
			st := newMemStore()
			var rs []age.Recipient
			if tt.encrypt {
				rs = []age.Recipient{x.Recipient()}
			}
			o, err := Upload(context.Background(), st, path, m, rs)
			if err != nil {
				t.Fatal(err)
			}
			if tt.edit != nil {
				st.edit(o.Key, tt.edit)
			}
			scratch := filepath.Join(t.TempDir(), "drill")
			// left over from a drill that was killed
			if err := os.MkdirAll(filepath.Join(scratch, "data", "member"), 0o700); err != nil {
				t.Fatal(err)
			}
			fake := tt.fake
			fake.t, fake.want = t, data
			res, err := Verify(context.Background(), st, o.Key, []age.Identity{x}, scratch, fake.run)
			if _, serr := os.Stat(scratch); !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("scratch is still there: %v", serr)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v\nwant %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Key != o.Key || res.Revision != 42 || res.HashKV != 7 || res.Took <= 0 {
				t.Errorf("result %+v", res)
			}
			wantCalls := [][]string{
				{"etcdutl", "snapshot", "restore", filepath.Join(scratch, "backup.db"), "--data-dir", filepath.Join(scratch, "data"),
					"--name", "drill", "--initial-cluster", "drill=http://localhost:2380", "--initial-advertise-peer-urls", "http://localhost:2380"},
				{"etcdutl", "hashkv", filepath.Join(scratch, "data", "member", "snap", "db"), "--rev", "42", "-w", "json"},
			}
			if !slices.EqualFunc(fake.calls, wantCalls, slices.Equal) {
				t.Errorf("calls\n%q\nwant\n%q", fake.calls, wantCalls)
			}
		})
	}
}

func TestVerifyChecksumErrorSurvives(t *testing.T) {
	path, _, m := snap(t, 100)
	st := newMemStore()
	o, err := Upload(context.Background(), st, path, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	st.edit(o.Key, func(o *memObj) { o.data[0] ^= 1 })
	fake := &fakeEtcdutl{t: t}
	_, err = Verify(context.Background(), st, o.Key, nil, filepath.Join(t.TempDir(), "s"), fake.run)
	var ce *ChecksumError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is not a *ChecksumError", err)
	}
	if len(fake.calls) != 0 {
		t.Errorf("etcdutl ran on a damaged backup: %q", fake.calls)
	}
}

func TestVerifyRefusesRoot(t *testing.T) {
	for _, s := range []string{"", "/", ".", "/./"} {
		if _, err := Verify(context.Background(), newMemStore(), "k", nil, s, nil); err == nil || !strings.Contains(err.Error(), "give a directory of its own") {
			t.Errorf("Verify(scratch %q): %v", s, err)
		}
	}
}

func TestParseHashKV(t *testing.T) {
	// etcdutl v3.6.16 hashkv -w json prints json.Marshal(etcdutl.HashKV) and a newline
	h, err := parseHashKV([]byte(`{"hash":4294967295,"hashRevision":9,"compactRevision":0}` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if h != (hashKV{Hash: 4294967295, HashRevision: 9, CompactRevision: 0}) {
		t.Errorf("%+v", h)
	}
	for _, bad := range []string{"", "{}", `{"hash":-1,"hashRevision":9,"compactRevision":0}`, `{"hash":1,"hashRevision":9}`} {
		if _, err := parseHashKV([]byte(bad)); err == nil {
			t.Errorf("parseHashKV(%q) passed", bad)
		}
	}
}

func TestExecRunner(t *testing.T) {
	out, err := ExecRunner(context.Background(), "sh", "-c", "echo out; echo err >&2")
	if err != nil || string(out) != "out\n" {
		t.Errorf("%q, %v", out, err)
	}
	_, err = ExecRunner(context.Background(), "sh", "-c", "echo one >&2; echo two >&2; exit 3")
	if err == nil || !strings.Contains(err.Error(), "exit status 3: one | two") {
		t.Errorf("error %v", err)
	}
}
