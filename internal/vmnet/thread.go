package vmnet

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// runDir is where named namespaces are pinned. iproute2 uses the same directory, which is
// what makes `ip netns exec NAME` work on namespaces made here.
const runDir = "/run/netns"

// onThread runs fn on a fresh goroutine locked to its OS thread. fn may move that thread to
// another network namespace (setns or unshare); afterwards the thread is put back where it
// started. Namespaces are per thread, so this keeps every other goroutine, and the caller's
// own thread, unaffected.
//
// If the thread cannot be put back it is left locked: a goroutine that exits while locked
// takes its thread with it, so a thread in the wrong namespace never runs other goroutines.
// Unlocking it instead is the classic bug that makes unrelated code dial from the wrong
// namespace. fn must not start goroutines that rely on the namespace: they run elsewhere.
func onThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread() // nothing was changed yet
			errc <- fmt.Errorf("get current netns: %w", err)
			return
		}
		defer orig.Close()
		fnErr := fn()
		if err := restoreNS(orig); err != nil {
			errc <- fmt.Errorf("restore netns (thread discarded): %w", err)
			return // still locked: the runtime ends this thread
		}
		runtime.UnlockOSThread()
		errc <- fnErr
	}()
	return <-errc
}

// restoreNS puts the thread back; a variable so a test can make it fail.
var restoreNS = netns.Set

// inNS runs fn on a thread inside the namespace ns; see onThread.
func inNS(ns netns.NsHandle, fn func() error) error {
	return onThread(func() error {
		if err := netns.Set(ns); err != nil {
			return fmt.Errorf("enter netns: %w", err)
		}
		return fn()
	})
}

// shareRunDir makes runDir a shared mount, as `ip netns add` does. `ip netns exec` gives
// each child a private copy of the mount table holding every pinned namespace; when runDir
// propagates, deleting a name here also unmounts it in those copies, so one test's qemu
// does not keep other tests' namespaces (and their bridges) alive.
var shareRunDir = sync.OnceValue(func() error {
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", runDir, err)
	}
	// Serialize with other processes doing the same, or two could both find runDir
	// unmounted and stack two bind mounts, the upper hiding names pinned on the lower.
	d, err := os.Open(runDir)
	if err != nil {
		return fmt.Errorf("open %s: %w", runDir, err)
	}
	defer d.Close() // releases the lock
	if err := unix.Flock(int(d.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", runDir, err)
	}
	err = unix.Mount("", runDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) {
		// Not a mount point yet; make it one so it can carry its own propagation.
		if err := unix.Mount(runDir, runDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s onto itself: %w", runDir, err)
		}
		err = unix.Mount("", runDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	}
	if err != nil {
		return fmt.Errorf("make %s shared: %w", runDir, err)
	}
	return nil
})

// createNamed makes a new network namespace pinned at runDir/name, the way `ip netns add`
// does: an empty file with the namespace bind-mounted onto it.
func createNamed(name string) error {
	if err := shareRunDir(); err != nil {
		return err
	}
	path := filepath.Join(runDir, name)
	// O_EXCL: never adopt somebody else's namespace of the same name.
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("create netns file: %w", err)
	}
	f.Close()
	err = onThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare netns: %w", err)
		}
		if err := unix.Mount("/proc/thread-self/ns/net", path, "none", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("pin netns at %s: %w", path, err)
		}
		return nil
	})
	if err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// deleteNamed unpins runDir/name. The namespace, with its links, goes away once no process
// or open handle refers to it any more. A missing or half-made entry is not an error.
func deleteNamed(name string) error {
	path := filepath.Join(runDir, name)
	// MNT_DETACH like iproute2: a busy mount must not block the cleanup.
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}
