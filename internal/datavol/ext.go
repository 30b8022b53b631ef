package datavol

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// extSuper is what this package needs from an ext2/3/4 superblock.
type extSuper struct {
	kind      string
	label     string
	uuid      string
	blockSize int64
	blocks    int64
}

// size is the filesystem's size in bytes, as resize2fs sees it.
func (s extSuper) size() int64 { return s.blocks * s.blockSize }

// Feature bits (include/linux/ext4.h) that tell ext2, ext3 and ext4 apart the way blkid does:
// a journal makes ext3, and any feature ext3 cannot handle makes ext4.
const (
	extCompatHasJournal  = 0x4
	extIncompat64Bit     = 0x80
	extIncompatExt3      = 0x2 | 0x4 | 0x10 // filetype, needs_recovery, meta_bg
	extROCompatExt3      = 0x1 | 0x2 | 0x4  // sparse_super, large_file, btree_dir
	extSuperOffset       = 1024
	extSuperMagic        = 0xEF53
	extMaxLogBlockSize   = 6 // 64 KiB blocks
	extSuperMinimumBytes = 0x158
)

// parseExtSuper reads the superblock from the start of a device (it lies at byte 1024).
func parseExtSuper(head []byte) (extSuper, bool) {
	sb := window(head, extSuperOffset, extSuperMinimumBytes)
	if sb == nil || binary.LittleEndian.Uint16(sb[56:]) != extSuperMagic {
		return extSuper{}, false
	}
	le32 := func(off int) uint32 { return binary.LittleEndian.Uint32(sb[off:]) }
	logBlock := le32(24)
	if logBlock > extMaxLogBlockSize {
		return extSuper{}, false // two matching bytes in random data, not a filesystem
	}
	compat, incompat, roCompat := le32(92), le32(96), le32(100)
	s := extSuper{
		kind:      KindExt2,
		label:     cString(sb[120:136]),
		uuid:      uuidString(sb[104:120]),
		blockSize: 1024 << logBlock,
		blocks:    int64(le32(4)),
	}
	if incompat&extIncompat64Bit != 0 {
		s.blocks |= int64(le32(0x150)) << 32
	}
	switch {
	case incompat&^extIncompatExt3 != 0 || roCompat&^extROCompatExt3 != 0:
		s.kind = KindExt4
	case compat&extCompatHasJournal != 0:
		s.kind = KindExt3
	}
	return s, true
}

// readExtSuper reads the superblock of the ext filesystem on a device.
func readExtSuper(path string) (extSuper, error) {
	f, err := os.Open(path)
	if err != nil {
		return extSuper{}, err
	}
	defer f.Close()
	head := make([]byte, extSuperOffset+extSuperMinimumBytes)
	if _, err := io.ReadFull(f, head); err != nil {
		return extSuper{}, fmt.Errorf("reading the superblock of %s: %w", path, err)
	}
	sb, ok := parseExtSuper(head)
	if !ok {
		return extSuper{}, fmt.Errorf("%s holds no ext2/3/4 filesystem", path)
	}
	return sb, nil
}
