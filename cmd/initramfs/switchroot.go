package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// apiMounts are the kernel filesystems /init needs and later hands to the real root.
var apiMounts = []struct {
	dir, fstype string
	flags       uintptr
	data        string
}{
	{"/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	{"/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	// Debian kernels do not mount devtmpfs in an initramfs themselves.
	{"/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"},
}

func mountAPI() error {
	for _, m := range apiMounts {
		if err := os.MkdirAll(m.dir, 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", m.dir, err)
		}
		if err := unix.Mount(m.fstype, m.dir, m.fstype, m.flags, m.data); err != nil {
			return fmt.Errorf("mounting %s on %s: %w", m.fstype, m.dir, err)
		}
	}
	return nil
}

// tmpOptions are /tmp's tmpfs options, those of the tmp.mount unit the image had before
// (Debian's systemd ships size=50%,nr_inodes=1m): services sandboxed with
// PrivateTmp= or PrivateDevices= (etcd, systemd-resolved, systemd-timesyncd) make their private
// directories there, and the root is read-only.
const tmpOptions = "mode=1777,size=25%,nr_inodes=64k"

// mountWritable puts a tmpfs on the new root's /run (systemd keeps an existing /run) and
// overlays /etc and /var with upper layers kept in it, so the OS disk is never written. /tmp
// gets a tmpfs of its own here too, not from a mount unit: systemd would start mount(8) for
// it, one more program start on the boot's busy vCPU; it takes a mounted /tmp as it is.
func mountWritable() error {
	run := newRoot + "/run"
	if err := unix.Mount("tmpfs", run, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return fmt.Errorf("mounting tmpfs on %s: %w", run, err)
	}
	tmp := newRoot + "/tmp"
	if err := unix.Mount("tmpfs", tmp, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_STRICTATIME, tmpOptions); err != nil {
		return fmt.Errorf("mounting tmpfs on %s: %w", tmp, err)
	}
	for _, dir := range []string{"etc", "var"} {
		base := filepath.Join(run, "appliance", "overlay", dir)
		upper, work := filepath.Join(base, "upper"), filepath.Join(base, "work")
		for _, d := range []string{upper, work} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("creating overlay dir: %w", err)
			}
		}
		// The lower layer is the squashfs directory the overlay is then mounted over: the
		// kernel resolves lowerdir before the overlay covers it.
		target := filepath.Join(newRoot, dir)
		opts := "lowerdir=" + target + ",upperdir=" + upper + ",workdir=" + work
		if err := unix.Mount("overlay", target, "overlay", 0, opts); err != nil {
			return fmt.Errorf("mounting overlay on %s: %w", target, err)
		}
	}
	return nil
}

// switchRoot moves the API filesystems into the new root, frees the initramfs, makes the
// new root "/" and execs init with the arguments and environment the kernel gave us.
func switchRoot(l *logger, init string, restoreKmsg func()) error {
	for _, m := range apiMounts {
		if err := unix.Mount(m.dir, newRoot+m.dir, "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("moving %s to %s%s: %w", m.dir, newRoot, m.dir, err)
		}
	}
	// Not fatal: a leftover only costs RAM.
	if err := freeInitramfs(); err != nil {
		l.printf("freeing initramfs: %v", err)
	}
	if err := unix.Chdir(newRoot); err != nil {
		return fmt.Errorf("chdir %s: %w", newRoot, err)
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("moving %s to /: %w", newRoot, err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot %s: %w", newRoot, err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir / in new root: %w", err)
	}
	// Checked only now so that absolute symlinks resolve inside the new root.
	if _, err := os.Stat(init); err != nil {
		return fmt.Errorf("init %s on the root filesystem: %w", init, err)
	}
	l.printf("exec %s", init)
	restoreKmsg()
	argv := append([]string{init}, os.Args[1:]...)
	if err := unix.Exec(init, argv, os.Environ()); err != nil {
		return fmt.Errorf("exec %s: %w", init, err)
	}
	return nil
}

// freeInitramfs deletes everything on the initramfs filesystem, staying off other mounts
// (the new root and anything under it), because ramfs memory is only freed by deleting.
func freeInitramfs() error {
	var fs unix.Statfs_t
	if err := unix.Statfs("/", &fs); err != nil {
		return fmt.Errorf("statfs /: %w", err)
	}
	if fs.Type != unix.RAMFS_MAGIC && fs.Type != unix.TMPFS_MAGIC {
		return fmt.Errorf("/ is not ramfs or tmpfs (type %#x), not deleting", fs.Type)
	}
	var st unix.Stat_t
	if err := unix.Lstat("/", &st); err != nil {
		return fmt.Errorf("stat /: %w", err)
	}
	return removeContents("/", uint64(st.Dev))
}

// removeContents removes everything below dir that lives on device dev.
func removeContents(dir string, dev uint64) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			errs = append(errs, err)
			continue
		}
		if uint64(st.Dev) != dev {
			continue // a mount point
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			if err := removeContents(p, dev); err != nil {
				errs = append(errs, err)
			}
			err = unix.Rmdir(p)
		} else {
			err = unix.Unlink(p)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}
