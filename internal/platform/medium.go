package platform

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Size limits for files read from an attached medium (a NoCloud seed, a config drive). The
// user-data may be an Ignition config carrying inline files: the same 16 MiB as qemu's
// fw_cfg and etcd.config.url= allow. The metadata and network documents are a few KiB even for
// machines with many links; 1 MiB is far beyond that and small enough to hold in memory.
const (
	MaxUserData = 16 << 20
	MaxMetadata = 1 << 20
)

// OpenMedium opens the mounted medium at dir so that nothing read through it leaves dir: a
// symlink that points outside (to /etc/passwd, say) fails to open, while one that stays on the
// medium is followed, as genisoimage's Rock Ridge links may be. Close the Root when done.
func OpenMedium(dir string) (*os.Root, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("opening the medium at %s: %w", dir, err)
	}
	return r, nil
}

// ReadMediumFile reads name from a medium (fsys: OpenMedium's Root.FS(), or a test's) with a
// size limit. It must be a regular file, after following symlinks that stay on the medium: a
// FIFO or device would block or never end. The error names the file, and the limit when that
// is what failed; a missing file wraps fs.ErrNotExist.
func ReadMediumFile(fsys fs.FS, name string, limit int64) ([]byte, error) {
	fi, err := fs.Stat(fsys, name)
	if err != nil {
		if l, ok := fsys.(fs.ReadLinkFS); ok && !errors.Is(err, fs.ErrNotExist) {
			if target, lerr := l.ReadLink(name); lerr == nil {
				return nil, fmt.Errorf("%s is a symlink to %s, which leaves the medium: refused (put the file itself on the medium): %w", name, target, err)
			}
		}
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		what := "a directory"
		if !fi.IsDir() {
			what = "a special file (" + fi.Mode().Type().String() + ")"
		}
		return nil, fmt.Errorf("%s is %s, not a regular file: refused", name, what)
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes, over the limit of %d (%s): is it the right file?", name, fi.Size(), limit, mib(limit))
	}
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// the size said is not trusted: read one byte past the limit to tell
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is over the limit of %d bytes (%s): is it the right file?", name, limit, mib(limit))
	}
	return b, nil
}

func mib(n int64) string { return fmt.Sprintf("%d MiB", n>>20) }
