package datavol

import (
	"fmt"
	"io"
	"os"
)

// Label is the filesystem label that marks a data volume as ours.
const Label = "etcd-data"

// Kinds of contents Probe recognises.
const (
	KindGPT        = "gpt"
	KindMBR        = "mbr"
	KindExt2       = "ext2"
	KindExt3       = "ext3"
	KindExt4       = "ext4"
	KindXFS        = "xfs"
	KindBtrfs      = "btrfs"
	KindVFAT       = "vfat"
	KindISO9660    = "iso9660"
	KindSquashfs   = "squashfs"
	KindSwap       = "swap"
	KindLUKS       = "luks"
	KindLVM2       = "lvm2"
	KindData       = "data"       // non-zero bytes nothing above recognises
	KindUnreadable = "unreadable" // the device could not be read; see Contents.Error
)

// probeSize is how much of each end of a device Probe reads. Every signature it knows lies in
// the first MiB; the last MiB catches a backup GPT or an md/ZFS label at the end.
const probeSize = 1 << 20

// Contents is what a device holds, as far as its first and last MiB tell.
type Contents struct {
	Blank bool   // the first and last MiB are all zero
	Kind  string // one of the Kind constants; "" when blank
	Label string
	UUID  string
	Error string // why the device could not be read, for KindUnreadable
}

// Ours reports whether the contents are a data volume this package made (or would have made).
func (c Contents) Ours() bool { return c.Kind == KindExt4 && c.Label == Label }

// String describes the contents for messages: `an ext4 filesystem labelled "scratch"`.
func (c Contents) String() string {
	var s string
	switch c.Kind {
	case "":
		if c.Blank {
			return "nothing (blank)"
		}
		return "unknown contents"
	case KindData:
		return "unrecognised non-zero data"
	case KindUnreadable:
		return "unreadable contents (" + c.Error + ")"
	case KindGPT:
		return "a GPT partition table"
	case KindMBR:
		return "an MBR (DOS) partition table"
	case KindExt2, KindExt3, KindExt4:
		s = "an " + c.Kind + " filesystem"
	case KindXFS:
		s = "an XFS filesystem"
	case KindBtrfs:
		s = "a btrfs filesystem"
	case KindVFAT:
		s = "a FAT filesystem"
	case KindISO9660:
		s = "an ISO 9660 filesystem"
	case KindSquashfs:
		s = "a squashfs filesystem"
	case KindSwap:
		s = "a swap area"
	case KindLUKS:
		s = "a LUKS encrypted volume"
	case KindLVM2:
		s = "an LVM2 physical volume"
	default:
		s = "a " + c.Kind + " signature"
	}
	if c.Label != "" {
		s += fmt.Sprintf(" labelled %q", c.Label)
	}
	return s
}

// Probe reads the first and last MiB of a device (or image file) and identifies its contents
// by their magic numbers. It never writes.
func Probe(path string) (Contents, error) {
	f, err := os.Open(path)
	if err != nil {
		return Contents{}, fmt.Errorf("probing %s: %w", path, err)
	}
	defer f.Close()
	// Seeking to the end gives the size of block devices and regular files alike.
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return Contents{}, fmt.Errorf("probing %s: size: %w", path, err)
	}
	head := make([]byte, min(size, probeSize))
	if _, err := f.ReadAt(head, 0); err != nil {
		return Contents{}, fmt.Errorf("probing %s: reading the first MiB: %w", path, err)
	}
	tail := make([]byte, min(size, probeSize))
	if _, err := f.ReadAt(tail, size-int64(len(tail))); err != nil {
		return Contents{}, fmt.Errorf("probing %s: reading the last MiB: %w", path, err)
	}
	return identify(head, tail), nil
}

// identify names the contents of a device from its first and last MiB.
func identify(head, tail []byte) Contents {
	// Filesystems and volume headers before partition tables: a hybrid ISO, a FAT boot sector
	// and an MBR all end sector 0 with 0x55AA, and the more specific name is the useful one.
	for _, p := range []func([]byte) (Contents, bool){
		probeLUKS, probeXFS, probeSquashfs, probeExt, probeBtrfs, probeSwap, probeLVM2,
		probeISO9660, probeGPT, probeVFAT, probeMBR,
	} {
		if c, ok := p(head); ok {
			return c
		}
	}
	if allZero(head) && allZero(tail) {
		return Contents{Blank: true}
	}
	return Contents{Kind: KindData}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
