package datavol

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// The probes below each look for one on-disk format at its documented offset in the first MiB
// of a device and return its label and UUID as blkid would print them.

func probeLUKS(b []byte) (Contents, bool) {
	if !hasAt(b, 0, "LUKS\xba\xbe") {
		return Contents{}, false
	}
	c := Contents{Kind: KindLUKS, UUID: cString(window(b, 168, 40))}
	if v := window(b, 6, 2); v != nil && binary.BigEndian.Uint16(v) == 2 {
		c.Label = cString(window(b, 24, 48)) // LUKS1 has no label
	}
	return c, true
}

func probeXFS(b []byte) (Contents, bool) {
	if !hasAt(b, 0, "XFSB") {
		return Contents{}, false
	}
	return Contents{Kind: KindXFS, UUID: uuidString(window(b, 32, 16)), Label: cString(window(b, 108, 12))}, true
}

func probeSquashfs(b []byte) (Contents, bool) {
	return Contents{Kind: KindSquashfs}, hasAt(b, 0, "hsqs")
}

func probeExt(b []byte) (Contents, bool) {
	sb, ok := parseExtSuper(b)
	if !ok {
		return Contents{}, false
	}
	return Contents{Kind: sb.kind, Label: sb.label, UUID: sb.uuid}, true
}

func probeBtrfs(b []byte) (Contents, bool) {
	const sb = 64 << 10
	if !hasAt(b, sb+64, "_BHRfS_M") {
		return Contents{}, false
	}
	return Contents{Kind: KindBtrfs, UUID: uuidString(window(b, sb+32, 16)), Label: cString(window(b, sb+299, 256))}, true
}

// probeSwap looks for the swap signature at the end of the first page, for the page sizes
// Linux uses (x86 4 KiB; arm64 and ppc64le up to 64 KiB).
func probeSwap(b []byte) (Contents, bool) {
	for _, page := range []int{4 << 10, 8 << 10, 16 << 10, 64 << 10} {
		if hasAt(b, page-10, "SWAPSPACE2") {
			return Contents{Kind: KindSwap, UUID: uuidString(window(b, 1036, 16)), Label: cString(window(b, 1052, 16))}, true
		}
		if hasAt(b, page-10, "SWAP-SPACE") { // version 1: no UUID or label
			return Contents{Kind: KindSwap}, true
		}
	}
	return Contents{}, false
}

// probeLVM2 looks for an LVM2 label in any of the first four sectors (pvcreate uses the second).
func probeLVM2(b []byte) (Contents, bool) {
	for off := 0; off < 4*512; off += 512 {
		if hasAt(b, off, "LABELONE") && hasAt(b, off+24, "LVM2 001") {
			hdr := window(b, off+20, 4)
			uuid := ""
			if hdr != nil {
				uuid = cString(window(b, off+int(binary.LittleEndian.Uint32(hdr)), 32))
			}
			return Contents{Kind: KindLVM2, UUID: uuid}, true
		}
	}
	return Contents{}, false
}

// probeISO9660 reads the primary volume descriptor at sector 16 (2048-byte sectors). Its
// volume ID is what a NoCloud seed is recognised by ("cidata").
func probeISO9660(b []byte) (Contents, bool) {
	if !hasAt(b, 32769, "CD001") {
		return Contents{}, false
	}
	return Contents{Kind: KindISO9660, Label: strings.TrimRight(cString(window(b, 32808, 32)), " ")}, true
}

// probeGPT looks for the GPT header at LBA 1 for 512- and 4096-byte logical sectors.
func probeGPT(b []byte) (Contents, bool) {
	for _, lba1 := range []int{512, 4096} {
		if hasAt(b, lba1, "EFI PART") {
			return Contents{Kind: KindGPT, UUID: guidString(window(b, lba1+56, 16))}, true
		}
	}
	return Contents{}, false
}

// probeVFAT checks the BIOS parameter block of a FAT boot sector. It needs more than 0x55AA,
// which an MBR has too: a jump instruction, a sane geometry and the "FAT" type string.
func probeVFAT(b []byte) (Contents, bool) {
	bs := window(b, 0, 512)
	if bs == nil || !(bs[0] == 0xEB && bs[2] == 0x90 || bs[0] == 0xE9) {
		return Contents{}, false
	}
	bytesPerSector := binary.LittleEndian.Uint16(bs[11:])
	sectorsPerCluster, fats := bs[13], bs[16]
	if !powerOfTwo(uint(bytesPerSector)) || bytesPerSector < 512 || bytesPerSector > 4096 ||
		!powerOfTwo(uint(sectorsPerCluster)) || fats < 1 || fats > 2 {
		return Contents{}, false
	}
	labelAt, serialAt := 43, 39 // FAT12/16
	if binary.LittleEndian.Uint16(bs[22:]) == 0 {
		labelAt, serialAt = 71, 67 // FAT32: no 16-bit FAT size
		if !hasAt(bs, 82, "FAT32") {
			return Contents{}, false
		}
	} else if !hasAt(bs, 54, "FAT") {
		return Contents{}, false
	}
	c := Contents{Kind: KindVFAT}
	if label := strings.TrimRight(string(bs[labelAt:labelAt+11]), " \x00"); label != "NO NAME" {
		c.Label = label
	}
	if serial := binary.LittleEndian.Uint32(bs[serialAt:]); serial != 0 {
		c.UUID = fmt.Sprintf("%04X-%04X", serial>>16, serial&0xffff)
	}
	return c, true
}

// probeMBR wants the boot signature and at least one used partition entry: the signature alone
// is only a boot sector.
func probeMBR(b []byte) (Contents, bool) {
	bs := window(b, 0, 512)
	if bs == nil || bs[510] != 0x55 || bs[511] != 0xAA {
		return Contents{}, false
	}
	for i := range 4 {
		if bs[446+16*i+4] != 0 { // partition type
			c := Contents{Kind: KindMBR}
			if id := binary.LittleEndian.Uint32(bs[440:]); id != 0 {
				c.UUID = fmt.Sprintf("%08x", id)
			}
			return c, true
		}
	}
	return Contents{}, false
}

// window returns b[off:off+n], or nil when b is too short (a device smaller than the format).
func window(b []byte, off, n int) []byte {
	if off < 0 || off+n > len(b) {
		return nil
	}
	return b[off : off+n]
}

func hasAt(b []byte, off int, magic string) bool {
	return bytes.Equal(window(b, off, len(magic)), []byte(magic))
}

// cString is a NUL-padded on-disk string.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// uuidString formats a big-endian UUID; an all-zero one is "".
func uuidString(b []byte) string {
	if len(b) != 16 || allZero(b) {
		return ""
	}
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// guidString formats a GUID as GPT stores it: the first three fields little-endian.
func guidString(b []byte) string {
	if len(b) != 16 {
		return ""
	}
	be := []byte{b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6]}
	return uuidString(append(be, b[8:]...))
}

func powerOfTwo(n uint) bool { return n != 0 && n&(n-1) == 0 }
