package platform

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// A medium is read confined to its mount point, and each file within its limit.
func TestReadMediumFile(t *testing.T) {
	mnt := t.TempDir()
	write := func(name string, size int) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(mnt, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(mnt, name), []byte(strings.Repeat("x", size)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(name, target string) {
		t.Helper()
		if err := os.Symlink(target, filepath.Join(mnt, name)); err != nil {
			t.Fatal(err)
		}
	}
	write("meta-data", 100)
	write("at-limit", 1024)
	write("over-limit", 1025)
	write("openstack/2012-08-10/user_data", 10)
	link("to-passwd", "/etc/passwd")
	link("up-and-out", "../../../../../../etc/passwd")
	link("inside", "meta-data")
	link("openstack/latest", "2012-08-10") // a directory linked within the medium
	link("dangling", "nowhere")
	if err := os.Mkdir(filepath.Join(mnt, "a-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	root, err := OpenMedium(mnt)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for _, tc := range []struct {
		name     string
		wantSize int
		wantErr  string // "" for read
		notExist bool
	}{
		{name: "meta-data", wantSize: 100},
		{name: "at-limit", wantSize: 1024},
		{name: "over-limit", wantErr: "over-limit is 1025 bytes, over the limit of 1024 (0 MiB)"},
		{name: "to-passwd", wantErr: "to-passwd is a symlink to /etc/passwd, which leaves the medium: refused"},
		{name: "up-and-out", wantErr: "up-and-out is a symlink to ../../../../../../etc/passwd, which leaves the medium: refused"},
		{name: "inside", wantSize: 100},
		{name: "openstack/latest/user_data", wantSize: 10},
		{name: "dangling", wantErr: "", notExist: true},
		{name: "missing", notExist: true},
		{name: "a-dir", wantErr: "a-dir is a directory, not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ReadMediumFile(root.FS(), tc.name, 1024)
			switch {
			case tc.notExist:
				if !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("err = %v, want fs.ErrNotExist", err)
				}
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if b != nil {
					t.Errorf("returned %d bytes with the error", len(b))
				}
			case err != nil:
				t.Fatal(err)
			case len(b) != tc.wantSize:
				t.Errorf("read %d bytes, want %d", len(b), tc.wantSize)
			}
		})
	}
}

// Any fs.FS is read within the limit (the parsers' tests give fstest.MapFS).
func TestReadMediumFileMapFS(t *testing.T) {
	fsys := fstest.MapFS{"user-data": {Data: []byte(strings.Repeat("x", 2048))}}
	if _, err := ReadMediumFile(fsys, "user-data", 1024); err == nil || !strings.Contains(err.Error(), "over the limit of 1024") {
		t.Fatalf("err = %v", err)
	}
}
