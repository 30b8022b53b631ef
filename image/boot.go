package image

import (
	"context"
	"debug/pe"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// bootArtefacts are the files firmware or qemu's direct kernel boot load.
type bootArtefacts struct {
	kernel, initrd, cmdline string // files
	uki                     string // UEFI arches
	grubCore                string // IEEE1275: the PReP partition's content
	bootFAT                 string // the FAT partition image (ESP, or the ppc64le boot partition)
}

// makeUKI joins the systemd-boot stub, kernel, initramfs, command line and os-release into one
// PE binary. bookworm has no ukify, so the sections are added with objcopy, each placed after
// the stub's last section so no address overlaps.
func makeUKI(ctx context.Context, stub, kernel, initrd, cmdline, osrel, out string) error {
	f, err := pe.Open(stub)
	if err != nil {
		return fmt.Errorf("reading EFI stub %s: %w", stub, err)
	}
	var base uint64
	var align uint64 = 0x1000
	switch oh := f.OptionalHeader.(type) {
	case *pe.OptionalHeader64:
		base, align = oh.ImageBase, uint64(oh.SectionAlignment)
	case *pe.OptionalHeader32:
		base, align = uint64(oh.ImageBase), uint64(oh.SectionAlignment)
	}
	var end uint64
	for _, s := range f.Sections {
		if e := uint64(s.VirtualAddress) + uint64(s.VirtualSize); e > end {
			end = e
		}
	}
	f.Close()
	up := func(v uint64) uint64 { return (v + align - 1) / align * align }
	args := []string{}
	next := up(end)
	for _, s := range []struct{ name, file string }{{".osrel", osrel}, {".cmdline", cmdline}, {".initrd", initrd}, {".linux", kernel}} {
		st, err := os.Stat(s.file)
		if err != nil {
			return err
		}
		args = append(args, "--add-section", s.name+"="+s.file,
			"--change-section-vma", fmt.Sprintf("%s=0x%x", s.name, base+next),
			"--set-section-flags", s.name+"=data,readonly")
		next = up(next + uint64(st.Size()))
	}
	args = append(args, stub, out)
	if b, err := exec.CommandContext(ctx, "objcopy", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("objcopy building the UKI: %w\n%s", err, b)
	}
	return zeroPETimestamp(out)
}

// zeroPETimestamp clears the COFF header's TimeDateStamp, which objcopy sets to the build
// time, and recomputes the PE checksum that objcopy computed over it.
func zeroPETimestamp(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if len(b) < 0x40 {
		return fmt.Errorf("%s: too short for a PE file", path)
	}
	peOff := int(binary.LittleEndian.Uint32(b[0x3c:]))
	// "PE\0\0", then the COFF header: Machine (2), NumberOfSections (2), TimeDateStamp (4), …;
	// the optional header follows the 20-byte COFF header and holds CheckSum at offset 64.
	sumOff := peOff + 4 + 20 + 64
	if len(b) < sumOff+4 || string(b[peOff:peOff+4]) != "PE\x00\x00" {
		return fmt.Errorf("%s: no PE header", path)
	}
	binary.LittleEndian.PutUint32(b[peOff+8:], 0)
	binary.LittleEndian.PutUint32(b[sumOff:], peChecksum(b, sumOff))
	return os.WriteFile(path, b, 0o644)
}

// peChecksum is the PE image checksum: 16-bit one's-complement-style sum of the file with the
// CheckSum field taken as zero, folded, plus the file length.
func peChecksum(b []byte, sumOff int) uint32 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		if i == sumOff || i == sumOff+2 {
			continue
		}
		sum += uint32(binary.LittleEndian.Uint16(b[i:]))
		sum = (sum & 0xffff) + (sum >> 16)
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1])
		sum = (sum & 0xffff) + (sum >> 16)
	}
	return (sum&0xffff + sum>>16) + uint32(len(b))
}

// grubModules are embedded in the ppc64le GRUB core image: enough to find the boot partition
// by its FAT serial and load Linux from it.
var grubModules = []string{"part_gpt", "fat", "search", "search_fs_uuid", "linux", "boot", "echo", "normal", "ieee1275_fb"}

// makeGrubCore writes a GRUB powerpc-ieee1275 core image with the boot config built in.
func makeGrubCore(ctx context.Context, modDir, fatSerial, cmdline, work, out string) error {
	cfg := fmt.Sprintf(`echo "etcd appliance: loading Linux"
search --no-floppy --fs-uuid --set=root %s
linux /vmlinux %s
initrd /initrd.img
boot
`, fatSerial, cmdline)
	cfgPath := filepath.Join(work, "grub-early.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	mods := grubModules[:0:0]
	for _, m := range grubModules {
		if _, err := os.Stat(filepath.Join(modDir, m+".mod")); err == nil {
			mods = append(mods, m)
		}
	}
	args := append([]string{"-O", "powerpc-ieee1275", "-d", modDir, "-p", "/grub", "-c", cfgPath, "-o", out}, mods...)
	if b, err := exec.CommandContext(ctx, "grub-mkimage", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("grub-mkimage: %w\n%s", err, b)
	}
	return nil
}

// fatFile is one file to place on a FAT partition.
type fatFile struct{ src, dst string }

// makeFAT creates a FAT32 image of sizeMiB holding files, reproducibly: mkfs.fat --invariant
// and mtools take every timestamp from SOURCE_DATE_EPOCH; the volume serial is then set.
func makeFAT(ctx context.Context, out, label string, serial uint32, sizeMiB int, epoch int64, files []fatFile) error {
	env := append(os.Environ(), "SOURCE_DATE_EPOCH="+strconv.FormatInt(epoch, 10), "MTOOLS_SKIP_CHECK=1")
	run := func(name string, args ...string) error {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = env
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, b)
		}
		return nil
	}
	_ = os.Remove(out)
	if err := run("mkfs.vfat", "-C", "-F", "32", "-n", label, "--invariant", out, strconv.Itoa(sizeMiB*1024)); err != nil {
		return err
	}
	if err := setFATSerial(out, serial); err != nil {
		return err
	}
	made := map[string]bool{}
	for _, f := range files {
		var dirs []string
		for d := filepath.Dir(f.dst); d != "/" && d != "." && !made[d]; d = filepath.Dir(d) {
			dirs = append([]string{d}, dirs...)
			made[d] = true
		}
		for _, d := range dirs {
			if err := run("mmd", "-i", out, "::"+d); err != nil {
				return err
			}
		}
		if err := os.Chtimes(f.src, unixTime(epoch), unixTime(epoch)); err != nil {
			return err
		}
		if err := run("mcopy", "-m", "-i", out, f.src, "::"+f.dst); err != nil {
			return err
		}
	}
	return nil
}

// setFATSerial writes the volume serial into the FAT32 boot sector and its backup (sector 6).
func setFATSerial(path string, serial uint32) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], serial)
	for _, off := range []int64{0x43, 6*512 + 0x43} {
		if _, err := f.WriteAt(b[:], off); err != nil {
			return err
		}
	}
	return f.Close()
}

// fatSerialString is how GRUB and blkid print a FAT serial.
func fatSerialString(serial uint32) string {
	return fmt.Sprintf("%04X-%04X", serial>>16, serial&0xffff)
}
