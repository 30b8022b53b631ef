package datavol

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// mountFlags: no atime updates (etcd reads constantly; atime writes would only add I/O), and a
// data volume never holds device nodes, setuid programs or executables. dirsync makes renames
// and file creations durable when they return: etcd's defragment renames the new database over
// the old one without syncing the directory, and a power cut in the seconds before ext4's next
// journal commit brought the old, full database back (and with it the NOSPACE alarm just
// cleared). etcd changes its directories rarely (a WAL segment, a snapshot, a defragment), so
// this costs nothing measurable.
const mountFlags = unix.MS_NOATIME | unix.MS_NODEV | unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_DIRSYNC

// mountData makes the kernel stop writing on filesystem errors rather than let etcd carry on
// over a corrupted filesystem.
const mountData = "errors=remount-ro"

// growSlack is how much larger than the filesystem the device must be for Grow to resize: the
// last few block groups' worth can be too small for resize2fs to use.
const growSlack = 1 << 20

const mountinfo = "/proc/self/mountinfo"

// mountReadOnly mounts the volume only to read its identity record, without writing a byte:
// no e2fsck (a preen rewrites the superblock even when clean), read-only, and noload so a
// journal needing recovery is not replayed. A volume that is accepted is then unmounted and
// mounted properly with Mount.
func mountReadOnly(path, dir string) error {
	return mountRO(path, dir, "noload")
}

// mountRecovered mounts read-only but replays the journal first, as any mount of a filesystem
// that was not shut down cleanly must: without it, files written shortly before a power cut
// read as missing, stale or corrupt (EBADMSG). The replay writes the journal's blocks to their
// places; it changes no file's contents.
func mountRecovered(path, dir string) error {
	return mountRO(path, dir, "")
}

func mountRO(path, dir, options string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("mounting %s: %w", path, err)
	}
	if err := unix.Mount(path, dir, "ext4", mountFlags|unix.MS_RDONLY, options); err != nil {
		return fmt.Errorf("mounting %s read-only at %s: %w", path, dir, err)
	}
	return nil
}

// Mount checks the ext4 filesystem on path (e2fsck -p, as distributions do at boot) and mounts it
// at dir. A filesystem already mounted there from the same device is left as it is, so the agent
// may run twice in a boot; anything else mounted at dir is an error.
func Mount(ctx context.Context, path, dir string) error {
	dev, err := deviceNumber(path)
	if err != nil {
		return err
	}
	cur, err := mountedAt(dir)
	if err != nil {
		return err
	}
	switch cur {
	case dev:
		return nil
	case "":
	default:
		return fmt.Errorf("mounting %s: device %s is already mounted at %s", path, cur, dir)
	}
	if err := fsck(ctx, path); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("mounting %s: %w", path, err)
	}
	if err := unix.Mount(path, dir, "ext4", mountFlags, mountData); err != nil {
		return fmt.Errorf("mounting %s at %s: %w", path, dir, err)
	}
	return nil
}

// fsck preens the filesystem. Exit codes below 4 mean clean or repaired (2, "reboot", only
// matters for a mounted root filesystem); 4 and up leave errors a person must look at.
func fsck(ctx context.Context, path string) error {
	out, err := exec.CommandContext(ctx, "e2fsck", "-p", path).CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() > 0 && exit.ExitCode() < 4 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking %s: e2fsck -p: %w: %s; repair it by hand with e2fsck -f %s", path, err, bytes.TrimSpace(out), path)
	}
	return nil
}

// Unmount unmounts the data volume from dir.
func Unmount(dir string) error {
	if err := unix.Unmount(dir, 0); err != nil {
		return fmt.Errorf("unmounting %s: %w", dir, err)
	}
	return nil
}

// Grow resizes the filesystem mounted at dir from path online to fill its device, when the
// device has grown (a cloud volume resized while the node was off). It reports whether the
// filesystem got bigger.
func Grow(ctx context.Context, path, dir string) (bool, error) {
	dev, err := deviceNumber(path)
	if err != nil {
		return false, err
	}
	if cur, err := mountedAt(dir); err != nil {
		return false, err
	} else if cur != dev {
		return false, fmt.Errorf("growing %s: it is not mounted at %s", path, dir)
	}
	devSize, err := deviceSize(path)
	if err != nil {
		return false, err
	}
	// The on-disk superblock is current here: only a resize changes the block count.
	sb, err := readExtSuper(path)
	if err != nil {
		return false, err
	}
	if devSize-sb.size() < growSlack {
		return false, nil
	}
	before, err := fsBytes(dir)
	if err != nil {
		return false, err
	}
	if out, err := exec.CommandContext(ctx, "resize2fs", path).CombinedOutput(); err != nil {
		return false, fmt.Errorf("growing %s from %d to %d bytes: resize2fs: %w: %s", path, sb.size(), devSize, err, bytes.TrimSpace(out))
	}
	after, err := fsBytes(dir)
	if err != nil {
		return false, err
	}
	return after > before, nil
}

// fsBytes is the size of the filesystem mounted at dir as statfs reports it (without metadata).
func fsBytes(dir string) (int64, error) {
	size, _, err := Usage(dir)
	return size, err
}

// Usage is the size of the filesystem holding dir and the bytes still free in it, as statfs
// reports them (without metadata; the volume has no root reserve).
func Usage(dir string) (size, free int64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(st.Blocks) * st.Bsize, int64(st.Bavail) * st.Bsize, nil
}

// mountedAt returns the device number ("major:minor") of what is mounted at dir, or "".
func mountedAt(dir string) (string, error) {
	if resolved, err := filepath.EvalSymlinks(dir); err == nil {
		dir = resolved
	}
	dir = filepath.Clean(dir)
	b, err := os.ReadFile(mountinfo)
	if err != nil {
		return "", fmt.Errorf("reading mounts: %w", err)
	}
	cur := ""
	for _, m := range parseMountinfo(string(b)) {
		if m.point == dir {
			cur = m.dev // the last mount on a point hides those before it
		}
	}
	return cur, nil
}

// deviceNumber returns a block device's "major:minor", as mountinfo and sysfs write it.
func deviceNumber(path string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return "", fmt.Errorf("stat %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return "", fmt.Errorf("%s is not a block device", path)
	}
	return fmt.Sprintf("%d:%d", unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev))), nil
}

func deviceSize(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", path, err)
	}
	return size, nil
}
