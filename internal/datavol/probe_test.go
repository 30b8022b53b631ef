package datavol

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestProbeImages probes images made by the host's own tools and checks the result against
// the expected kind and label, and against what blkid reads from the same image.
func TestProbeImages(t *testing.T) {
	const size = 8 << 20
	tests := []struct {
		name  string
		tools []string
		make  func(t *testing.T, path string)
		want  Contents // UUID is compared with blkid's instead
	}{
		{
			name: "blank",
			make: func(t *testing.T, path string) { sparseFile(t, path, size) },
			want: Contents{Blank: true},
		},
		{
			name:  "ext4 etcd-data",
			tools: []string{"mkfs.ext4"},
			make:  mkfs(size, "mkfs.ext4", "-q", "-F", "-L", "etcd-data"),
			want:  Contents{Kind: KindExt4, Label: "etcd-data"},
		},
		{
			name:  "ext4 scratch",
			tools: []string{"mkfs.ext4"},
			make:  mkfs(size, "mkfs.ext4", "-q", "-F", "-L", "scratch"),
			want:  Contents{Kind: KindExt4, Label: "scratch"},
		},
		{
			name:  "ext3",
			tools: []string{"mkfs.ext3"},
			make:  mkfs(size, "mkfs.ext3", "-q", "-F", "-L", "etcd-data"),
			want:  Contents{Kind: KindExt3, Label: "etcd-data"},
		},
		{
			name:  "ext2 unlabelled",
			tools: []string{"mkfs.ext2"},
			make:  mkfs(size, "mkfs.ext2", "-q", "-F"),
			want:  Contents{Kind: KindExt2},
		},
		{
			name:  "xfs",
			tools: []string{"mkfs.xfs"},
			make:  mkfs(300<<20, "mkfs.xfs", "-q", "-f", "-L", "logs"),
			want:  Contents{Kind: KindXFS, Label: "logs"},
		},
		{
			name:  "btrfs",
			tools: []string{"mkfs.btrfs"},
			make:  mkfs(128<<20, "mkfs.btrfs", "-q", "-f", "-L", "pool"),
			want:  Contents{Kind: KindBtrfs, Label: "pool"},
		},
		{
			name:  "vfat CIDATA",
			tools: []string{"mkfs.vfat"},
			make:  mkfs(size, "mkfs.vfat", "-n", "CIDATA"),
			want:  Contents{Kind: KindVFAT, Label: "CIDATA"},
		},
		{
			name:  "FAT32 unlabelled",
			tools: []string{"mkfs.vfat"},
			make:  mkfs(64<<20, "mkfs.vfat", "-F", "32"),
			want:  Contents{Kind: KindVFAT},
		},
		{
			name:  "ISO 9660 NoCloud seed",
			tools: []string{"xorriso"},
			make: func(t *testing.T, path string) {
				src := t.TempDir()
				for _, f := range []string{"meta-data", "user-data"} {
					if err := os.WriteFile(filepath.Join(src, f), []byte("{}\n"), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				run(t, "xorriso", "-as", "mkisofs", "-quiet", "-V", "cidata", "-J", "-r", "-o", path, src)
			},
			want: Contents{Kind: KindISO9660, Label: "cidata"},
		},
		{
			name:  "squashfs",
			tools: []string{"mksquashfs"},
			make: func(t *testing.T, path string) {
				run(t, "mksquashfs", t.TempDir(), path, "-quiet", "-no-progress", "-noappend")
			},
			want: Contents{Kind: KindSquashfs},
		},
		{
			name:  "GPT",
			tools: []string{"sgdisk"},
			make: func(t *testing.T, path string) {
				sparseFile(t, path, size)
				run(t, "sgdisk", "-o", "-n", "1:2048:+1M", path)
			},
			want: Contents{Kind: KindGPT},
		},
		{
			// Without sfdisk (Debian's fdisk package): sgdisk turns its GPT into an MBR.
			name:  "MBR",
			tools: []string{"sgdisk"},
			make: func(t *testing.T, path string) {
				sparseFile(t, path, size)
				if _, err := exec.LookPath("sfdisk"); err == nil {
					cmd := exec.Command("sfdisk", "-q", path)
					cmd.Stdin = strings.NewReader("label: dos\n2048,2048,83\n")
					if out, err := cmd.CombinedOutput(); err != nil {
						t.Fatalf("sfdisk: %v\n%s", err, out)
					}
					return
				}
				run(t, "sgdisk", "-o", "-n", "1:2048:+1M", path)
				run(t, "sgdisk", "-m", "1", path)
			},
			want: Contents{Kind: KindMBR},
		},
		{
			name:  "swap",
			tools: []string{"mkswap"},
			make:  mkfs(size, "mkswap", "-L", "swp"),
			want:  Contents{Kind: KindSwap, Label: "swp"},
		},
		{
			name: "one byte in the last MiB",
			make: func(t *testing.T, path string) { oneByte(t, path, size, size-100) },
			want: Contents{Kind: KindData},
		},
		{
			name: "one byte in the first MiB",
			make: func(t *testing.T, path string) { oneByte(t, path, size, 100) },
			want: Contents{Kind: KindData},
		},
		{
			name: "one byte in the middle is not looked at",
			make: func(t *testing.T, path string) { oneByte(t, path, size, size/2) },
			want: Contents{Blank: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireTools(t, tt.tools...)
			path := filepath.Join(t.TempDir(), "disk.img")
			tt.make(t, path)
			got, err := Probe(path)
			if err != nil {
				t.Fatal(err)
			}
			uuid := got.UUID
			got.UUID = ""
			if got != tt.want {
				t.Errorf("Probe = %+v, want %+v", got, tt.want)
			}
			compareBlkid(t, path, got, uuid)
		})
	}
}

// compareBlkid checks a probe result against blkid's low-level probe of the same image.
func compareBlkid(t *testing.T, path string, got Contents, uuid string) {
	t.Helper()
	if _, err := exec.LookPath("blkid"); err != nil {
		return
	}
	out, err := exec.Command("blkid", "-p", "-o", "export", path).Output()
	if err != nil && len(out) == 0 {
		out = nil // exit 2: nothing found
	}
	b := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			b[k] = v
		}
	}
	kind := b["TYPE"]
	if pt := b["PTTYPE"]; kind == "" && pt != "" {
		kind = map[string]string{"dos": KindMBR}[pt]
		if kind == "" {
			kind = pt
		}
	}
	if got.Kind != KindData && kind != got.Kind {
		t.Errorf("kind %q, blkid says %q", got.Kind, kind)
	}
	if got.Label != b["LABEL"] {
		t.Errorf("label %q, blkid says %q", got.Label, b["LABEL"])
	}
	// blkid makes an ISO's UUID from its date and knows none for squashfs; Probe reports none.
	if got.Kind == KindISO9660 || got.Kind == KindSquashfs {
		return
	}
	want := b["UUID"]
	if want == "" {
		want = b["PTUUID"]
	}
	if !strings.EqualFold(uuid, want) {
		t.Errorf("UUID %q, blkid says %q", uuid, want)
	}
}

// mkfs makes an image of size bytes and runs a mkfs-like tool on it (the path goes last).
func mkfs(size int64, tool string, args ...string) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		sparseFile(t, path, size)
		run(t, tool, append(args, path)...)
	}
}

func oneByte(t *testing.T, path string, size, at int64) {
	sparseFile(t, path, size)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte{1}, at); err != nil {
		t.Fatal(err)
	}
}

// TestIdentify covers formats the host has no tools for, from their documented on-disk
// layouts, and the look-alikes Probe must not be fooled by.
func TestIdentify(t *testing.T) {
	fat16 := withBytes(4096, map[int]string{
		0: "\xeb\x3c\x90", 11: "\x00\x02", 13: "\x04", 16: "\x02", 22: "\x10\x00",
		39: "\x78\x56\x34\x12", 43: "CIDATA     ", 54: "FAT16   ", 510: "\x55\xaa",
	})
	bootSectorOnly := withBytes(4096, map[int]string{0: "\xeb\x63\x90", 510: "\x55\xaa"})
	tests := []struct {
		name string
		head []byte
		want Contents
	}{
		{"empty device", nil, Contents{Blank: true}},
		{"LUKS2", withBytes(4096, map[int]string{0: "LUKS\xba\xbe", 6: "\x00\x02", 24: "secret", 168: "1b2c3d4e-0000-4000-8000-000000000001"}),
			Contents{Kind: KindLUKS, Label: "secret", UUID: "1b2c3d4e-0000-4000-8000-000000000001"}},
		{"LUKS1", withBytes(4096, map[int]string{0: "LUKS\xba\xbe", 6: "\x00\x01", 24: "aes", 168: "0f"}),
			Contents{Kind: KindLUKS, UUID: "0f"}},
		{"LVM2", withBytes(4096, map[int]string{512: "LABELONE", 532: "\x20\x00\x00\x00", 536: "LVM2 001", 544: "AbCdEfGhIjKlMnOpQrStUvWxYz012345"}),
			Contents{Kind: KindLVM2, UUID: "AbCdEfGhIjKlMnOpQrStUvWxYz012345"}},
		{"btrfs", withBytes(128<<10, map[int]string{65536 + 32: "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10", 65536 + 64: "_BHRfS_M", 65536 + 299: "pool"}),
			Contents{Kind: KindBtrfs, Label: "pool", UUID: "01020304-0506-0708-090a-0b0c0d0e0f10"}},
		{"xfs", withBytes(4096, map[int]string{0: "XFSB", 32: "\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01", 108: "logs"}),
			Contents{Kind: KindXFS, Label: "logs", UUID: "ff000000-0000-0000-0000-000000000001"}},
		{"swap with 64 KiB pages", withBytes(64<<10, map[int]string{65536 - 10: "SWAPSPACE2", 1052: "swp"}),
			Contents{Kind: KindSwap, Label: "swp"}},
		{"GPT on 4 KiB sectors", withBytes(8192, map[int]string{510: "\x55\xaa", 446 + 4: "\xee", 4096: "EFI PART"}),
			Contents{Kind: KindGPT}},
		{"FAT16 is not an MBR", fat16, Contents{Kind: KindVFAT, Label: "CIDATA", UUID: "1234-5678"}},
		{"boot sector without partitions", bootSectorOnly, Contents{Kind: KindData}},
		{"ext magic with an impossible block size", withBytes(4096, map[int]string{1024 + 24: "\x20", 1024 + 56: "\x53\xef"}),
			Contents{Kind: KindData}},
		{"synthetic ext4", extImage("etcd-data", 1000), Contents{Kind: KindExt4, Label: "etcd-data", UUID: "abababab-abab-abab-abab-abababababab"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := identify(tt.head, tt.head); got != tt.want {
				t.Errorf("identify = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestContentsString(t *testing.T) {
	tests := []struct {
		c    Contents
		want string
	}{
		{Contents{Blank: true}, "nothing (blank)"},
		{Contents{Kind: KindExt4, Label: "scratch"}, `an ext4 filesystem labelled "scratch"`},
		{Contents{Kind: KindExt2}, "an ext2 filesystem"},
		{Contents{Kind: KindGPT, UUID: "x"}, "a GPT partition table"},
		{Contents{Kind: KindMBR}, "an MBR (DOS) partition table"},
		{Contents{Kind: KindISO9660, Label: "cidata"}, `an ISO 9660 filesystem labelled "cidata"`},
		{Contents{Kind: KindData}, "unrecognised non-zero data"},
		{Contents{Kind: KindUnreadable, Error: "input/output error"}, "unreadable contents (input/output error)"},
		{Contents{Kind: KindSwap}, "a swap area"},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.c, got, tt.want)
		}
	}
}
