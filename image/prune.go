package image

import (
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// unusablePrograms are files of the root packages that cannot do anything on this image, as
// globs under the root. Removing them lets pruneLibraries drop the libraries only they need.
var unusablePrograms = []string{
	// glibc's iconv charset converters (7.7 MiB on amd64): nothing here converts charsets (the Go
	// binaries do not use libc; systemd, dash, kmod, e2fsprogs and dropbear never call iconv)
	"usr/lib/*/gconv",
	// D-Bus services and their clients: the image runs no D-Bus daemon
	"usr/lib/systemd/systemd-logind", "usr/lib/systemd/systemd-localed", "usr/lib/systemd/systemd-timedated",
	"usr/lib/systemd/systemd-hostnamed", "usr/bin/loginctl", "usr/bin/hostnamectl", "usr/bin/localectl",
	"usr/bin/timedatectl", "usr/bin/busctl",
	// disk encryption, integrity, TPM measurement and repartitioning: dm-verity is set up by the
	// initramfs, the data volume by firstboot
	"usr/lib/systemd/systemd-cryptsetup", "usr/lib/systemd/systemd-veritysetup", "usr/lib/systemd/systemd-integritysetup",
	"usr/bin/systemd-cryptenroll", "usr/lib/systemd/systemd-measure", "usr/lib/systemd/systemd-pcrphase",
	"usr/bin/systemd-repart", "usr/lib/*/cryptsetup",
	// no hwdb sources are shipped, no backlight, no suspend, no fsck at boot (firstboot checks
	// the data volume itself)
	"usr/bin/systemd-hwdb", "usr/lib/systemd/systemd-backlight", "usr/lib/systemd/systemd-sleep",
	"usr/lib/systemd/systemd-fsckd",
	// the kernel package's device trees (arm64: 26.6 MiB): the firmware hands the kernel its own
	// (ACPI or a device tree), the UKI carries none, and nothing copies them to the ESP
	"usr/lib/linux-image-*",
	// OpenSSL engines and the legacy provider, loaded only when a configuration names them
	"usr/lib/*/engines-3", "usr/lib/*/ossl-modules",
	// systemd-user-sessions is masked: nothing would ever remove this "System is booting up" file
	"usr/lib/tmpfiles.d/systemd-nologin.conf",
}

// dlopened are libraries a program loads by name rather than by DT_NEEDED, so that
// pruneLibraries keeps them: glibc loads libgcc_s to unwind a cancelled thread.
var dlopened = []string{"libgcc_s.so.1"}

// pruned is what pruneRoot took out.
type pruned struct {
	files int
	bytes int64
}

// pruneRoot removes the unusable programs, then every shared library no remaining program
// needs, and checks that every remaining program finds its libraries.
func pruneRoot(dir string) (pruned, error) {
	var p pruned
	for _, g := range unusablePrograms {
		matches, err := filepath.Glob(filepath.Join(dir, g))
		if err != nil {
			return p, err
		}
		for _, m := range matches {
			if err := p.remove(m); err != nil {
				return p, err
			}
		}
	}
	if err := pruneLibraries(dir, &p); err != nil {
		return p, err
	}
	return p, nil
}

func (p *pruned) remove(path string) error {
	err := filepath.WalkDir(path, func(f string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			p.files++
			p.bytes += fi.Size()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return os.RemoveAll(path)
}

// elfFile is one dynamically linked ELF file of the tree.
type elfFile struct {
	path   string
	soname string
	needed []string
}

// pruneLibraries removes the shared libraries (files with a DT_SONAME) that no program,
// directly or through other libraries, needs, and the symlinks left dangling
// (removeDanglingLinks). Then it checks that each remaining ELF file's DT_NEEDED names a
// library the tree has: a build that pruned too much fails here rather than at boot.
func pruneLibraries(dir string, p *pruned) error {
	files, err := elfFiles(dir)
	if err != nil {
		return err
	}
	// every file of a soname: which copy ld.so picks is its search order's business, not ours
	bySoname := map[string][]*elfFile{}
	for _, f := range files {
		if f.soname != "" {
			bySoname[f.soname] = append(bySoname[f.soname], f)
		}
	}
	keep := map[*elfFile]bool{}
	var stack []*elfFile
	for _, f := range files {
		// programs, and plugins without a soname (PAM modules): the roots of the closure
		rel, err := filepath.Rel(dir, f.path)
		if err != nil {
			return err
		}
		if f.soname == "" || strings.HasPrefix(rel, "usr/bin/") || strings.HasPrefix(rel, "usr/sbin/") ||
			strings.HasPrefix(rel, "bin/") || strings.HasPrefix(rel, "sbin/") {
			stack = append(stack, f)
		}
	}
	for _, name := range dlopened {
		stack = append(stack, bySoname[name]...)
	}
	for len(stack) > 0 {
		f := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if keep[f] {
			continue
		}
		keep[f] = true
		for _, n := range f.needed {
			stack = append(stack, bySoname[n]...)
		}
	}
	for _, f := range files {
		if !keep[f] {
			if err := p.remove(f.path); err != nil {
				return err
			}
		}
	}
	if err := removeDanglingLinks(dir); err != nil {
		return err
	}
	var missing []string
	for _, f := range files {
		if !keep[f] {
			continue
		}
		for _, n := range f.needed {
			if len(bySoname[n]) == 0 {
				rel, _ := filepath.Rel(dir, f.path)
				missing = append(missing, fmt.Sprintf("%s needs %s", rel, n))
			}
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("root tree: libraries missing (a package without them, or pruned by image/prune.go): %s", strings.Join(missing, "; "))
	}
	return nil
}

// elfFiles reads every regular ELF file under dir except kernel modules, which the kernel
// links, not ld.so.
func elfFiles(dir string) ([]*elfFile, error) {
	var out []*elfFile
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || strings.HasSuffix(path, ".ko") {
			return err
		}
		e, err := readELF(path)
		if err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
		if e != nil {
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// readELF reads one file's soname and needed libraries; nil if it is not ELF.
func readELF(path string) (*elfFile, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	magic := make([]byte, len(elf.ELFMAG))
	if _, err := file.ReadAt(magic, 0); err != nil || string(magic) != elf.ELFMAG {
		return nil, nil // shorter than a header, or another magic: not ELF
	}
	f, err := elf.NewFile(file)
	if err != nil {
		return nil, err
	}
	needed, err := f.ImportedLibraries()
	if err != nil {
		return nil, err
	}
	soname, err := f.DynString(elf.DT_SONAME)
	if err != nil {
		return nil, err
	}
	e := &elfFile{path: path, needed: needed}
	if len(soname) > 0 {
		e.soname = soname[0]
	}
	return e, nil
}

// removeDanglingLinks removes the symlinks under usr/lib whose relative target, resolved
// from the link's directory, is gone (a library's soname link; systemd-sysroot-fstab-check,
// the fstab generator's other name), until none is left (a link to a removed link). The lookup
// stays in the tree (os.Root), so a link on the way that is absolute or climbs out of it keeps
// the link rather than being followed on the build host. Absolute targets are left alone:
// systemd-udevd's /bin/udevadm means the image's root, and a unit linked to /dev/null is a mask.
func removeDanglingLinks(dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	for {
		removed := 0
		err := filepath.WalkDir(filepath.Join(dir, "usr/lib"), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.Type()&fs.ModeSymlink == 0 {
				return err
			}
			target, err := os.Readlink(path)
			if err != nil || filepath.IsAbs(target) {
				return err
			}
			linkDir, err := filepath.Rel(dir, filepath.Dir(path))
			if err != nil {
				return err
			}
			// not joined and cleaned: "a/../b" through a link named a is not "b"
			if _, err := root.Lstat(linkDir + "/" + target); errors.Is(err, fs.ErrNotExist) {
				removed++
				return os.Remove(path)
			}
			return nil
		})
		if err != nil || removed == 0 {
			return err
		}
	}
}
