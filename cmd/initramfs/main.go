// Command initramfs is the /init of the appliance initramfs. Run by the kernel as PID 1, it
// loads the storage drivers, finds the root partition by PARTUUID, opens it through
// dm-verity against the root hash on the kernel command line, mounts the squashfs root
// read-only with tmpfs-backed overlays on /etc and /var, and hands over to systemd.
package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

const (
	newRoot     = "/sysroot"
	moduleList  = "/etc/modules.load"
	probeList   = "/etc/modules.probe"
	rootTimeout = 90 * time.Second
	rootPoll    = 100 * time.Millisecond
	// verityName is the device-mapper name of the verified root.
	verityName = "root"
)

func main() {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "initramfs: this is the initramfs /init; only the kernel may run it (as PID 1)")
		os.Exit(2)
	}
	l := &logger{}
	err := boot(l)
	if err == nil {
		err = errors.New("exec of init returned without error")
	}
	l.fatal(err)
}

// boot does everything up to exec'ing the real init; it only returns on failure.
func boot(l *logger) error {
	l.openKmsg() // usually absent until devtmpfs is mounted
	if err := mountAPI(); err != nil {
		return err
	}
	if l.kmsg == nil {
		l.openKmsg()
	}
	restoreKmsg := relaxKmsgRatelimit()
	l.printf("started")

	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return fmt.Errorf("reading kernel command line: %w", err)
	}
	params, err := parseCmdline(string(cmdline))
	if err != nil {
		return err
	}

	always, err := readModuleList(l, moduleList)
	if err != nil {
		return err
	}
	loadModules(l, "/", always)
	if err := checkHash(procCrypto, verityHash); err != nil {
		return err
	}
	drivers, err := readModuleList(l, probeList)
	if err != nil {
		return err
	}
	rest := loadUntil(l, "/", drivers, func() bool {
		devs, _ := findRoots(sysBlockDir, devNodes, params.root)
		return len(devs) > 0
	})

	open := func(part string) (string, error) { return openVerified(l, part, params.verity) }
	dev, err := waitForRoot(l, params.root, rootTimeout, rootPoll, loadRestOnRefusal(l, rest, open, func(paths []string) {
		loadModules(l, "/", paths)
	}))
	if err != nil {
		return err
	}
	if err := setReadAhead(sysBlockDir, dev, rootReadAheadKB); err != nil {
		l.printf("%v; booting with the default", err)
	}
	if err := unix.Mount(dev, newRoot, "squashfs", unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("mounting root %s as squashfs on %s: %w", dev, newRoot, err)
	}
	l.printf("mounted %s on %s", dev, newRoot)
	if err := mountWritable(); err != nil {
		return err
	}
	l.printf("/etc and /var are writable overlays on tmpfs /run; /tmp is a tmpfs")
	return switchRoot(l, params.init, restoreKmsg)
}

// loadRestOnRefusal wraps open: the first time a candidate fails verification, the disk
// drivers loadUntil left out are loaded (by load), since the OS disk may sit on a controller
// whose driver was not loaded yet; waitForRoot's next poll then sees its disks.
func loadRestOnRefusal(l *logger, rest []string, open openFunc, load func([]string)) openFunc {
	return func(part string) (string, error) {
		dev, err := open(part)
		if errors.Is(err, errVerification) && len(rest) > 0 {
			l.printf("loading the other disk drivers to look for the OS disk elsewhere")
			load(rest)
			rest = nil
		}
		return dev, err
	}
}

// openVerified opens part through dm-verity and reads it all once, so every block is checked
// against the root hash before anything mounts it (docs/security.md says why up front).
func openVerified(l *logger, part string, p verityParams) (string, error) {
	start := time.Now()
	dev, err := openVerity(verityName, part, p)
	if err != nil {
		return "", err
	}
	if err := checkAll(dev, p.DataBlocks*verityBlock); err != nil {
		if cerr := closeVerity(verityName); cerr != nil {
			l.alert("removing the verity device of refused %s: %v", part, cerr)
		}
		return "", err
	}
	l.printf("verified %d MiB of %s against the root hash in %s", p.DataBlocks*verityBlock>>20, part, time.Since(start).Round(time.Millisecond))
	return dev, nil
}
