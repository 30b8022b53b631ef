package image

import (
	"os"
	"path/filepath"
	"testing"
)

func TestContributor(t *testing.T) {
	for rel, want := range map[string]string{
		"usr/lib/modules/6.1.0-28-amd64/kernel/fs/squashfs/squashfs.ko": "kernel modules",
		"usr/bin/etcd":            "etcd (also etcdctl, etcdutl; firstboot where linked in)",
		"usr/bin/firstboot":       "firstboot",
		"usr/lib/systemd/systemd": "systemd",
		"usr/lib/x86_64-linux-gnu/systemd/libsystemd-shared-252.so": "systemd",
		"usr/lib/x86_64-linux-gnu/libsystemd.so.0.35.0":             "systemd",
		"usr/bin/systemctl":                  "systemd",
		"usr/lib/udev/hwdb.bin":              "systemd",
		"usr/lib/x86_64-linux-gnu/libc.so.6": "other libraries",
		"usr/share/zoneinfo/UTC":             "usr/share",
		"etc/os-release":                     "everything else",
		"usr/sbin/mkfs.ext4":                 "everything else",
	} {
		if got := contributor(rel); got != want {
			t.Errorf("contributor(%q) = %q, want %q", rel, got, want)
		}
	}
}

func TestTreeContributors(t *testing.T) {
	root := t.TempDir()
	for rel, size := range map[string]int{"usr/bin/etcd": 400, "usr/bin/firstboot": 200, "etc/hostname": 5} {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("etcd", filepath.Join(root, "usr/bin/etcdctl")); err != nil {
		t.Fatal(err)
	}
	got, err := treeContributors(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []Part{{"etcd (also etcdctl, etcdutl; firstboot where linked in)", 400}, {"firstboot", 200}, {"everything else", 5}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("part %d = %v, want %v", i, got[i], want[i])
		}
	}
}
