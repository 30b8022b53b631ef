package datavol

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
)

// fakeDev is a disk or partition in a fake /sys/block tree, with its /dev node a regular file.
type fakeDev struct {
	name       string
	dev        string // major:minor
	sectors    int64
	ro, rm     bool
	serial     string // written where virtio puts it
	scsiSerial string // written where SCSI and NVMe put it
	holders    []string
	data       []byte
	parts      []fakeDev
}

// fakeRoot builds root/sys/block, root/proc and root/dev for Scan.
func fakeRoot(t *testing.T, mountinfo, swaps string, disks ...fakeDev) string {
	t.Helper()
	root := t.TempDir()
	write := func(path, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	flag := func(b bool) string {
		if b {
			return "1\n"
		}
		return "0\n"
	}
	var device func(dir string, d fakeDev, part int)
	device = func(dir string, d fakeDev, part int) {
		write(filepath.Join(dir, "size"), strconv.FormatInt(d.sectors, 10)+"\n")
		write(filepath.Join(dir, "dev"), d.dev+"\n")
		write(filepath.Join(dir, "ro"), flag(d.ro))
		if err := os.MkdirAll(filepath.Join(dir, "holders"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, h := range d.holders {
			if err := os.Symlink("../../dm-0", filepath.Join(dir, "holders", h)); err != nil {
				t.Fatal(err)
			}
		}
		if part > 0 {
			write(filepath.Join(dir, "partition"), strconv.Itoa(part)+"\n")
		} else {
			write(filepath.Join(dir, "removable"), flag(d.rm))
		}
		if d.serial != "" {
			write(filepath.Join(dir, "serial"), d.serial+"\n")
		}
		if d.scsiSerial != "" {
			write(filepath.Join(dir, "device/serial"), d.scsiSerial+"  \n")
		}
		write(filepath.Join(root, "dev", d.name), string(d.data))
		for i, p := range d.parts {
			device(filepath.Join(dir, p.name), p, i+1)
		}
	}
	for _, d := range disks {
		device(filepath.Join(root, "sys/block", d.name), d, 0)
	}
	write(filepath.Join(root, "proc/self/mountinfo"), mountinfo)
	write(filepath.Join(root, "proc/swaps"), swaps)
	return root
}

func TestScan(t *testing.T) {
	const mountinfo = `22 1 253:2 / / ro,relatime shared:1 - squashfs /dev/vda2 ro
23 22 0:21 / /proc rw,nosuid - proc proc rw
24 22 253:1 / /boot rw - vfat /dev/vda1 rw
25 22 8:17 / /mnt/old\040data rw - ext4 /dev/sdb1 rw
26 22 253:1 / /boot/efi rw - vfat /dev/vda1 rw
`
	const swaps = "Filename\tType\tSize\tUsed\tPriority\n/dev/vdd1\tpartition\t1020\t0\t-2\n"
	gpt := withBytes(8192, map[int]string{512: "EFI PART"})
	iso := withBytes(64<<10, map[int]string{32769: "CD001", 32808: "cidata                          "})
	root := fakeRoot(t, mountinfo, swaps,
		fakeDev{name: "loop0", dev: "7:0", sectors: 100},
		fakeDev{name: "sdb", dev: "8:16", sectors: 4096, scsiSerial: "0QEMU_disk", data: gpt, parts: []fakeDev{
			{name: "sdb1", dev: "8:17", sectors: 2048, data: extImage("old", 256)},
		}},
		fakeDev{name: "sr0", dev: "11:0", sectors: 128, ro: true, rm: true, data: iso},
		fakeDev{name: "sr1", dev: "11:1", sectors: 0, rm: true},
		fakeDev{name: "vda", dev: "253:0", sectors: 8 << 21, serial: "os", data: gpt, parts: []fakeDev{
			{name: "vda1", dev: "253:1", sectors: 2048, data: withBytes(512, map[int]string{0: "\xe9", 11: "\x00\x02", 13: "\x01", 16: "\x02", 22: "\x01", 54: "FAT16   "})},
			{name: "vda2", dev: "253:2", sectors: 4096, data: []byte("hsqs")},
			{name: "vda10", dev: "253:10", sectors: 4096, data: make([]byte, 4096)},
		}},
		fakeDev{name: "vdb", dev: "253:16", sectors: 1 << 21, serial: "etcd-data", data: make([]byte, 4096)},
		fakeDev{name: "vdc", dev: "253:32", sectors: 2048, holders: []string{"dm-0"}, data: []byte("LUKS\xba\xbe\x00\x01")},
		fakeDev{name: "vdd", dev: "253:48", sectors: 4096, data: gpt, parts: []fakeDev{
			{name: "vdd1", dev: "253:49", sectors: 2048, data: withBytes(4096, map[int]string{4086: "SWAPSPACE2"})},
			{name: "vdd2", dev: "253:50", sectors: 2048, data: extImage(Label, 256)},
		}},
	)
	dev := func(name string) string { return filepath.Join(root, "dev", name) }
	isoContents := Contents{Kind: KindISO9660, Label: "cidata"}
	gptContents := Contents{Kind: KindGPT}
	want := []Disk{
		{Name: "sdb", Path: dev("sdb"), Size: 4096 * 512, Serial: "0QEMU_disk", InUse: "sdb1 mounted at /mnt/old data", Contents: gptContents,
			Partitions: []Disk{{Name: "sdb1", Path: dev("sdb1"), Size: 2048 * 512, Serial: "0QEMU_disk", Mounts: []string{"/mnt/old data"}, InUse: "mounted at /mnt/old data",
				Contents: Contents{Kind: KindExt4, Label: "old", UUID: "abababab-abab-abab-abab-abababababab"}}}},
		{Name: "sr0", Path: dev("sr0"), Size: 128 * 512, ReadOnly: true, Removable: true, Contents: isoContents},
		{Name: "vda", Path: dev("vda"), Size: 8 << 30, Serial: "os", InUse: "vda1 mounted at /boot, /boot/efi; vda2 mounted at /", Contents: gptContents,
			Partitions: []Disk{
				{Name: "vda1", Path: dev("vda1"), Size: 2048 * 512, Serial: "os", Mounts: []string{"/boot", "/boot/efi"}, InUse: "mounted at /boot, /boot/efi", Contents: Contents{Kind: KindVFAT}},
				{Name: "vda2", Path: dev("vda2"), Size: 4096 * 512, Serial: "os", Mounts: []string{"/"}, InUse: "mounted at /", Contents: Contents{Kind: KindSquashfs}},
				{Name: "vda10", Path: dev("vda10"), Size: 4096 * 512, Serial: "os", Contents: Contents{Blank: true}},
			}},
		{Name: "vdb", Path: dev("vdb"), Size: 1 << 30, Serial: "etcd-data", Contents: Contents{Blank: true}},
		{Name: "vdc", Path: dev("vdc"), Size: 2048 * 512, InUse: "has holders dm-0", Contents: Contents{Kind: KindLUKS}},
		{Name: "vdd", Path: dev("vdd"), Size: 4096 * 512, InUse: "vdd1 in use as swap", Contents: gptContents,
			Partitions: []Disk{
				{Name: "vdd1", Path: dev("vdd1"), Size: 2048 * 512, InUse: "in use as swap", Contents: Contents{Kind: KindSwap}},
				{Name: "vdd2", Path: dev("vdd2"), Size: 2048 * 512, Contents: Contents{Kind: KindExt4, Label: Label, UUID: "abababab-abab-abab-abab-abababababab"}},
			}},
	}
	got, err := Scan(root)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		for i := range max(len(got), len(want)) {
			var g, w Disk
			if i < len(got) {
				g = got[i]
			}
			if i < len(want) {
				w = want[i]
			}
			if !reflect.DeepEqual(g, w) {
				t.Errorf("disk %d:\n got %+v\nwant %+v", i, g, w)
			}
		}
	}
}

func TestScanErrors(t *testing.T) {
	disk := fakeDev{name: "vdb", dev: "253:16", sectors: 2048}
	tests := []struct {
		name  string
		spoil func(root string) error
	}{
		{"no mountinfo", func(root string) error { return os.Remove(filepath.Join(root, "proc/self/mountinfo")) }},
		{"no swaps", func(root string) error { return os.Remove(filepath.Join(root, "proc/swaps")) }},
		{"no sysfs", func(root string) error { return os.RemoveAll(filepath.Join(root, "sys")) }},
		{"no device number", func(root string) error { return os.Remove(filepath.Join(root, "sys/block/vdb/dev")) }},
		{"bad size", func(root string) error {
			return os.WriteFile(filepath.Join(root, "sys/block/vdb/size"), []byte("lots\n"), 0o644)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := fakeRoot(t, "", "Filename Type Size Used Priority\n", disk)
			if err := tt.spoil(root); err != nil {
				t.Fatal(err)
			}
			if _, err := Scan(root); err == nil {
				t.Error("Scan succeeded")
			}
		})
	}
}

// A device node that cannot be read is listed, as unreadable, not a reason to stop.
func TestScanUnreadable(t *testing.T) {
	root := fakeRoot(t, "", "Filename Type Size Used Priority\n", fakeDev{name: "vdb", dev: "253:16", sectors: 2048})
	if err := os.Remove(filepath.Join(root, "dev/vdb")); err != nil {
		t.Fatal(err)
	}
	disks, err := Scan(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(disks) != 1 || disks[0].Contents.Kind != KindUnreadable || disks[0].Contents.Error == "" || disks[0].Contents.Blank {
		t.Errorf("Scan = %+v, want vdb unreadable", disks)
	}
}
