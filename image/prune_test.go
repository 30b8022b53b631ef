package image

import (
	"debug/elf"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hostLibrary finds a library of the build host by soname in the multiarch directories.
func hostLibrary(t *testing.T, soname string) string {
	t.Helper()
	for _, d := range []string{"/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib/powerpc64le-linux-gnu", "/lib64"} {
		p := filepath.Join(d, soname)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skipf("this host has no %s", soname)
	return ""
}

// TestPruneLibraries prunes a tree made of the host's own programs and libraries: real ELF
// files, as the root tree's are.
func TestPruneLibraries(t *testing.T) {
	prog := "/usr/bin/true"
	f, err := elf.Open(prog)
	if err != nil {
		t.Skipf("no %s: %v", prog, err)
	}
	needed, err := f.ImportedLibraries()
	f.Close()
	if err != nil || len(needed) == 0 {
		t.Skipf("%s is not dynamically linked", prog)
	}
	// the dynamic loader, as this host's libc names it
	libc, err := elf.Open(hostLibrary(t, "libc.so.6"))
	if err != nil {
		t.Fatal(err)
	}
	libcNeeds, err := libc.ImportedLibraries()
	libc.Close()
	if err != nil || len(libcNeeds) != 1 {
		t.Skipf("libc.so.6 needs %v, want just the loader", libcNeeds)
	}
	loader := libcNeeds[0]
	lib := "usr/lib/multiarch"
	tree := func(t *testing.T, withNeeded bool) string {
		dir := t.TempDir()
		for _, d := range []string{"usr/bin", lib} {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		put := func(src, dst string) {
			if err := copyFile(src, filepath.Join(dir, dst), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		put(prog, "usr/bin/true")
		if withNeeded {
			put(hostLibrary(t, "libc.so.6"), lib+"/libc.so.6")
		}
		put(hostLibrary(t, loader), lib+"/"+loader)
		put(hostLibrary(t, "libgcc_s.so.1"), lib+"/libgcc_s.so.1")
		// a library nothing needs, with its soname link, as a package lays it out
		put(hostLibrary(t, "libz.so.1"), lib+"/libz.so.1.2.13")
		if err := os.Symlink("libz.so.1.2.13", filepath.Join(dir, lib, "libz.so.1")); err != nil {
			t.Fatal(err)
		}
		for link, target := range map[string]string{
			// an absolute link means the image's root: it must survive however the host looks
			lib + "/absolute": "/bin/no-such-program-on-the-host",
			// a unit masked by its package: /dev/null is the image's, the tree's dev/ is empty
			"usr/lib/systemd/system/masked.service": "/dev/null",
			// another name for a program that was pruned (systemd-sysroot-fstab-check)
			"usr/lib/systemd/other-name": "system-generators/gone",
			// a relative link to a file that is there, in another directory
			"usr/lib/systemd/libc-link": "../multiarch/libc.so.6",
			// a link that climbs out of the tree is not resolved on the host
			"usr/lib/systemd/outside": "../../../../../../no-such-file-on-the-host",
			// nor is one through an absolute link on the way (the builder's usr/lib/ssl/certs)
			"usr/lib/ssl/certs":    "/etc/ssl/certs",
			"usr/lib/systemd/cert": "../ssl/certs/in-the-tree-only.pem",
			// ".." after a link on the way goes up from where that link leads, as the kernel's
			// lookup does: a/../file is deep/file, which is there (a cleaned path would not be)
			"usr/lib/systemd/a":      "deep/deeper",
			"usr/lib/systemd/dotdot": "a/../file",
		} {
			if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(link)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.MkdirAll(filepath.Join(dir, "etc/ssl/certs"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "etc/ssl/certs/in-the-tree-only.pem"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, "usr/lib/systemd/deep/deeper"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "usr/lib/systemd/deep/file"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	exists := func(dir, rel string) bool {
		_, err := os.Lstat(filepath.Join(dir, rel))
		return err == nil
	}

	t.Run("unneeded library removed", func(t *testing.T) {
		dir := tree(t, true)
		var p pruned
		if err := pruneLibraries(dir, &p); err != nil {
			t.Fatal(err)
		}
		for rel, want := range map[string]bool{
			"usr/bin/true": true, lib + "/libc.so.6": true, lib + "/" + loader: true,
			lib + "/libgcc_s.so.1":  true, // dlopened by glibc
			lib + "/absolute":       true,
			lib + "/libz.so.1.2.13": false, lib + "/libz.so.1": false,
			"usr/lib/systemd/system/masked.service": true, "usr/lib/systemd/other-name": false,
			"usr/lib/systemd/libc-link": true, "usr/lib/systemd/outside": true, "usr/lib/systemd/cert": true,
			"usr/lib/systemd/dotdot": true,
		} {
			if got := exists(dir, rel); got != want {
				t.Errorf("%s present = %v, want %v", rel, got, want)
			}
		}
		if p.files != 1 {
			t.Errorf("pruned %d files, want 1 (libz)", p.files)
		}
	})
	t.Run("missing library named", func(t *testing.T) {
		dir := tree(t, false)
		var p pruned
		err := pruneLibraries(dir, &p)
		if err == nil || !strings.Contains(err.Error(), "usr/bin/true needs libc.so.6") {
			t.Fatalf("err = %v, want one naming usr/bin/true and libc.so.6", err)
		}
	})
}
