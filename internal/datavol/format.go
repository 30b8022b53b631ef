package datavol

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"

	"golang.org/x/sys/unix"
)

// mkfsArgs are the mkfs.ext4 arguments for a new data volume. The journal stays: etcd fsyncs its
// WAL and relies on the filesystem's metadata surviving a crash. Everything else is mke2fs's
// default for the disk's size (lazy inode table init included: the kernel finishes it in the
// background, rate-limited, instead of mkfs writing every table up front on a large volume).
func mkfsArgs(path string) []string {
	// -F: the device was checked here, and mke2fs would otherwise ask about a whole disk.
	// -m 0: no root reserve; etcd does not run as root, so the 5% would only go unused.
	return []string{"-q", "-F", "-L", Label, "-m", "0", path}
}

// Format makes the data volume's filesystem on path. It probes the device again first, as it
// may have changed since Scan: a device that is not blank is refused unless wipe is set, and
// then its signatures are erased first (the first and last MiB zeroed), so that nothing can
// mistake the remains for a partition table or another filesystem.
func Format(ctx context.Context, path string, wipe bool) error {
	c, err := Probe(path)
	if err != nil {
		return err
	}
	if !c.Blank {
		if !wipe {
			return fmt.Errorf("%s holds %s; refusing to format it", path, c)
		}
		if err := wipeSignatures(path); err != nil {
			return err
		}
	}
	cmd := exec.CommandContext(ctx, "mkfs.ext4", mkfsArgs(path)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("formatting %s: mkfs.ext4: %w: %s", path, err, bytes.TrimSpace(out))
	}
	if c, err := Probe(path); err != nil || !c.Ours() {
		return fmt.Errorf("formatting %s: mkfs.ext4 succeeded but the device holds %s (%v)", path, c, err)
	}
	return nil
}

// wipeSignatures zeroes the first and last MiB of a device, where Probe looks. A block device is
// opened exclusively, which the kernel refuses while anything has it mounted or claimed.
func wipeSignatures(path string) error {
	block, err := isBlockDevice(path)
	if err != nil {
		return err
	}
	flags := os.O_WRONLY
	if block {
		flags |= unix.O_EXCL
	}
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		return fmt.Errorf("wiping %s: %w", path, err)
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("wiping %s: size: %w", path, err)
	}
	zero := make([]byte, min(size, probeSize))
	for _, off := range []int64{0, size - int64(len(zero))} {
		if _, err := f.WriteAt(zero, off); err != nil {
			return fmt.Errorf("wiping %s: %w", path, err)
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("wiping %s: %w", path, err)
	}
	if block {
		// Drop the kernel's partitions of the old table now rather than at the next boot. It
		// fails harmlessly on partitions and on disks without partition support.
		_ = unix.IoctlSetInt(int(f.Fd()), unix.BLKRRPART, 0)
	}
	return nil
}

func isBlockDevice(path string) (bool, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	return fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0, nil
}
