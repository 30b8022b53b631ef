package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// verityBlock is the data and hash block size the build uses (imagebuild's makeVerity).
const verityBlock = 4096

// verityHash is the hash the build makes the tree with (image/verity.go says why SHA-512). Its
// generic code is a module (sha512_generic) the initramfs loads before it opens the root:
// dm-verity takes the implementation registered when the table is loaded.
const verityHash = "sha512"

// verityDigestSize is verityHash's digest in bytes: the root hash's length.
const verityDigestSize = 64

// procCrypto lists the crypto algorithms the kernel has registered.
const procCrypto = "/proc/crypto"

// checkHash fails when the kernel (procCrypto) has no implementation of hash. dm-verity would
// then refuse every table, which would read as each disk failing verification rather than as
// an initramfs without the hash's module: a fault of the build, not of the disk.
func checkHash(procCrypto, hash string) error {
	b, err := os.ReadFile(procCrypto)
	if err != nil {
		return fmt.Errorf("reading %s to check for dm-verity's hash: %w", procCrypto, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "name" && strings.TrimSpace(v) == hash {
			return nil
		}
	}
	return fmt.Errorf("the kernel has no %s, dm-verity's hash for the root (%s lists none): the initramfs lacks its module, a fault of the image's build, not of the disk", hash, procCrypto)
}

// verityParams describe the root partition's dm-verity layout: the squashfs fills the first
// DataBlocks blocks, the hash tree (no superblock) starts right after it, and RootHash is
// the trusted hash everything is checked against.
type verityParams struct {
	RootHash   string // hex, verityHash
	DataBlocks uint64
	Salt       string // hex
}

// parseVerity reads etcd.verity=sha512:ROOTHASH:DATABLOCKS:SALT. Only the build's hash: the
// initramfs and its command line come from one build (in the UKI or GRUB's core image).
func parseVerity(v string) (verityParams, error) {
	f := strings.Split(v, ":")
	if len(f) != 4 || f[0] != verityHash {
		return verityParams{}, fmt.Errorf("etcd.verity=%s: want %s:ROOTHASH:DATABLOCKS:SALT", v, verityHash)
	}
	p := verityParams{RootHash: strings.ToLower(f[1]), Salt: strings.ToLower(f[3])}
	if b, err := hex.DecodeString(p.RootHash); err != nil || len(b) != verityDigestSize {
		return p, fmt.Errorf("etcd.verity=%s: root hash is not %d hex digits", v, 2*verityDigestSize)
	}
	if _, err := hex.DecodeString(p.Salt); err != nil || p.Salt == "" {
		return p, fmt.Errorf("etcd.verity=%s: salt is not hex", v)
	}
	n, err := strconv.ParseUint(f[2], 10, 64)
	if err != nil || n == 0 {
		return p, fmt.Errorf("etcd.verity=%s: data blocks %q is not a positive number", v, f[2])
	}
	p.DataBlocks = n
	return p, nil
}

// target is one device-mapper table entry starting at sector 0.
type target struct {
	sectors uint64 // length
	ttype   string // target type, e.g. "verity"
	params  string
}

// verityTarget is the dm-verity target over a partition with device number devNum
// ("MAJOR:MINOR") holding both the data and, from block DataBlocks on, the hash tree.
// Corrupt blocks fail with EIO (the default mode): never a panic or a restart, which would
// loop.
func (p verityParams) verityTarget(devNum string) target {
	return target{
		sectors: p.DataBlocks * verityBlock / 512,
		ttype:   "verity",
		params: fmt.Sprintf("1 %s %s %d %d %d %d %s %s %s",
			devNum, devNum, verityBlock, verityBlock, p.DataBlocks, p.DataBlocks, verityHash, p.RootHash, p.Salt),
	}
}

// dmVersion is the oldest device-mapper ioctl interface with everything used here.
var dmVersion = [3]uint32{4, 0, 0}

// dmIoctl issues one device-mapper ioctl on /dev/mapper/control for device name, with an
// optional single target. It returns the kernel's reply header.
func dmIoctl(cmd uintptr, name string, flags uint32, t *target) (*unix.DmIoctl, error) {
	ctl, err := os.OpenFile("/dev/mapper/control", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("opening the device-mapper control device (is dm-mod loaded?): %w", err)
	}
	defer ctl.Close()
	hdrSize := int(unsafe.Sizeof(unix.DmIoctl{}))
	specSize := int(unsafe.Sizeof(unix.DmTargetSpec{}))
	size := hdrSize
	if t != nil {
		size += (specSize + len(t.params) + 1 + 7) &^ 7
	}
	// extra room for the kernel's reply
	buf := make([]byte, size+4096)
	hdr := (*unix.DmIoctl)(unsafe.Pointer(&buf[0]))
	hdr.Version = dmVersion
	hdr.Data_size = uint32(len(buf))
	hdr.Data_start = uint32(hdrSize)
	hdr.Flags = flags
	if len(name) >= len(hdr.Name) {
		return nil, fmt.Errorf("device-mapper name %q too long", name)
	}
	copy(hdr.Name[:], name)
	if t != nil {
		if len(t.ttype) >= 16 {
			return nil, fmt.Errorf("device-mapper target type %q too long", t.ttype)
		}
		hdr.Target_count = 1
		spec := (*unix.DmTargetSpec)(unsafe.Pointer(&buf[hdrSize]))
		spec.Length = t.sectors
		copy(spec.Target_type[:], t.ttype)
		copy(buf[hdrSize+specSize:], t.params)
	}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, ctl.Fd(), cmd, uintptr(unsafe.Pointer(&buf[0])))
	if errno != 0 {
		return nil, errno
	}
	out := *hdr
	return &out, nil
}

// openVerity creates the read-only verity device name over the partition dev (a /dev path)
// and returns its /dev/dm-N path. On error nothing is left behind. Errors that concern this
// partition (gone, too small for the data and tree, refused by dm-verity) wrap
// errVerification, so the caller tries the next candidate; failing to create the device at
// all does not.
func openVerity(name, dev string, p verityParams) (string, error) {
	devNum, err := blockDevNum(dev)
	if err != nil {
		return "", fmt.Errorf("%w: %w", errVerification, err)
	}
	if _, err := dmIoctl(unix.DM_DEV_CREATE, name, 0, nil); err != nil {
		return "", fmt.Errorf("creating device-mapper device %s: %w", name, err)
	}
	t := p.verityTarget(devNum)
	if _, err := dmIoctl(unix.DM_TABLE_LOAD, name, unix.DM_READONLY_FLAG, &t); err != nil {
		return "", removeAfter(name, fmt.Errorf("%w: loading its verity table (a partition too small for the image's data and hash tree gives E2BIG): %w", errVerification, err))
	}
	hdr, err := dmIoctl(unix.DM_DEV_SUSPEND, name, 0, nil) // without DM_SUSPEND_FLAG: resume
	if err != nil {
		return "", removeAfter(name, fmt.Errorf("%w: activating its verity device: %w", errVerification, err))
	}
	return "/dev/dm-" + strconv.FormatUint(uint64(unix.Minor(hdr.Dev)), 10), nil
}

// removeAfter removes device name after a failed setup and returns err, with the removal's
// error added if it failed too (the next candidate would then find the name taken).
func removeAfter(name string, err error) error {
	if rerr := closeVerity(name); rerr != nil {
		return fmt.Errorf("%w (and removing device-mapper device %s: %v)", err, name, rerr)
	}
	return err
}

// closeVerity removes the device.
func closeVerity(name string) error {
	_, err := dmIoctl(unix.DM_DEV_REMOVE, name, 0, nil)
	return err
}

// blockDevNum gives "MAJOR:MINOR" of a block device node.
func blockDevNum(dev string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil {
		return "", fmt.Errorf("stat %s: %w", dev, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return "", fmt.Errorf("%s is not a block device", dev)
	}
	return fmt.Sprintf("%d:%d", unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev))), nil
}

// errVerification marks content that does not match the trusted root hash.
var errVerification = errors.New("failed verification")

// checkAll reads the whole verity device once: dm-verity checks every block against the
// root hash, so a partition with one altered byte is refused before anything mounts it. Any
// failure refuses the partition; dm-verity's EIO is the usual one (the kernel logs the block).
func checkAll(dev string, size uint64) error {
	f, err := os.Open(dev)
	if err != nil {
		return fmt.Errorf("%w: opening %s: %w", errVerification, dev, err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	var off uint64
	for {
		n, err := f.Read(buf)
		off += uint64(n)
		switch {
		case err == io.EOF && off == size:
			return nil
		case err == io.EOF:
			return fmt.Errorf("%w: %s ends after %d bytes, not %d", errVerification, dev, off, size)
		case errors.Is(err, unix.EIO):
			return fmt.Errorf("%w: reading byte %d: I/O error (dm-verity: the block does not match the root hash, or the disk failed)", errVerification, off)
		case err != nil:
			return fmt.Errorf("%w: reading %s: %w", errVerification, dev, err)
		}
	}
}
