package nodestate

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestWriteRead(t *testing.T) {
	dir := t.TempDir()
	if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), "has not finished booting") {
		t.Fatalf("Read before a boot: %v", err)
	}
	want := State{Member: "etcd-a", PeerURL: "https://etcd-a.example:2380", Endpoints: []string{"https://etcd-a.example:2379"},
		Quota: 1 << 30, SnapshotMinutes: 60, SnapshotKeep: 3}
	if err := Write(filepath.Join(dir, "run"), want); err != nil {
		t.Fatal(err)
	}
	got, err := Read(filepath.Join(dir, "run"))
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Read = %+v, %v; want %+v", got, err, want)
	}
	fi, _ := os.Stat(filepath.Join(dir, "run", File))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v: it names key files, root only", fi.Mode().Perm())
	}
	if got.Self().Name != "etcd-a" || got.Self().PeerURL != want.PeerURL {
		t.Errorf("Self = %+v", got.Self())
	}
	os.WriteFile(filepath.Join(dir, File), []byte("{"), 0o600)
	if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), File) {
		t.Errorf("a torn record: %v, want an error naming %s", err, File)
	}
}
