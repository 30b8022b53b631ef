package datavol

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestIdentityRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if id, err := ReadIdentity(dir); err != nil || id != nil {
		t.Fatalf("ReadIdentity of a new volume = %v, %v; want nil, nil", id, err)
	}
	want := &Identity{Cluster: "prod", CAFingerprint: "sha256:ab12", Member: "etcd-1", Created: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Image: "v1.2.3"}
	if err := WriteIdentity(dir, want); err != nil {
		t.Fatal(err)
	}
	want.MemberID = "8e9e05c52164694d" // rewriting replaces the record
	if err := WriteIdentity(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadIdentity = %+v, want %+v", got, want)
	}
	fi, err := os.Stat(IdentityPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	entries, err := os.ReadDir(filepath.Dir(IdentityPath(dir)))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
}

func TestReadIdentityCorrupt(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "appliance"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(IdentityPath(dir), []byte(`{"cluster": `), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadIdentity(dir); err == nil || !strings.Contains(err.Error(), IdentityPath(dir)) {
		t.Errorf("ReadIdentity = %v, want an error naming the file", err)
	}
}

func TestIdentityCheck(t *testing.T) {
	prod := Identity{Cluster: "prod", CAFingerprint: "sha256:aa", Member: "etcd-1"}
	single := Identity{Member: "node-a"}
	tests := []struct {
		name    string
		have    Identity
		want    Identity
		wantErr []string
	}{
		{name: "same", have: prod, want: prod},
		{name: "CA not known yet", have: Identity{Cluster: "prod", Member: "etcd-1"}, want: prod},
		{name: "configured CA not known yet", have: prod, want: Identity{Cluster: "prod", Member: "etcd-1"}},
		{name: "single node renamed", have: single, want: Identity{Member: "node-b"}},
		{name: "other cluster", have: prod, want: Identity{Cluster: "staging", Member: "etcd-1"},
			wantErr: []string{`belongs to cluster "prod", but this node is configured for cluster "staging"`, "attach a blank disk", "data.wipe: true"}},
		{name: "single-node volume in a cluster", have: single, want: prod,
			wantErr: []string{`belongs to a single-node cluster, but this node is configured for cluster "prod"`}},
		{name: "same name, other CA", have: prod, want: Identity{Cluster: "prod", CAFingerprint: "sha256:bb", Member: "etcd-1"},
			wantErr: []string{"with CA sha256:aa, but this node's CA is sha256:bb", "data.wipe: true"}},
		{name: "CA rotation: the volume's CA is still in the bundle", have: prod,
			want: Identity{Cluster: "prod", CAFingerprint: "sha256:bb", CATrusted: []string{"sha256:bb", "sha256:aa"}, Member: "etcd-1"}},
		{name: "CA rotation finished: the old CA left the bundle", have: prod,
			want:    Identity{Cluster: "prod", CAFingerprint: "sha256:bb", CATrusted: []string{"sha256:bb"}, Member: "etcd-1"},
			wantErr: []string{"with CA sha256:aa, but this node's CA is sha256:bb"}},
		{name: "other member", have: prod, want: Identity{Cluster: "prod", CAFingerprint: "sha256:aa", Member: "etcd-2"},
			wantErr: []string{`holds member "etcd-1" of cluster "prod", but this node is configured as member "etcd-2"`, "attach etcd-1's volume"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.have.Check(tt.want)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("Check passed")
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q\nlacks %q", err, s)
				}
			}
		})
	}
}
