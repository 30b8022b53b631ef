package detect

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/etcd-appliance/appliance/internal/platform"
	"golang.org/x/sys/unix"
)

// VolumeTypes are the filesystems a config drive or NoCloud seed may carry, tried in order.
func VolumeTypes() []string { return []string{"iso9660", "vfat"} }

// withVolume mounts dev read-only (and nosuid, nodev, noexec) on dir with the first of fstypes
// the kernel accepts, calls read with the mounted tree, and always unmounts and removes dir.
// It needs root and a real device, so unit tests do not run it.
func withVolume(dev, dir string, fstypes []string, read func(fs.FS) error) (err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("mounting %s: %w", dev, err)
	}
	defer os.Remove(dir)

	const flags = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	var tried []string
	mounted := false
	for _, t := range fstypes {
		if err := unix.Mount(dev, dir, t, flags, ""); err != nil {
			tried = append(tried, fmt.Sprintf("%s: %v", t, err))
			continue
		}
		mounted = true
		break
	}
	if !mounted {
		return fmt.Errorf("mounting %s read-only on %s failed (%s): is it a %s filesystem, and does the image ship the isofs and vfat kernel modules?",
			dev, dir, strings.Join(tried, "; "), strings.Join(fstypes, " or "))
	}
	defer func() {
		if uerr := unix.Unmount(dir, 0); uerr != nil {
			// Busy: detach it so it goes once the last user does.
			if derr := unix.Unmount(dir, unix.MNT_DETACH); derr != nil {
				err = errors.Join(err, fmt.Errorf("unmounting %s: %w", dir, uerr))
			}
		}
	}()
	root, err := platform.OpenMedium(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return read(root.FS())
}
