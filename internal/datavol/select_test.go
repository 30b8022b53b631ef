package datavol

import (
	"io/fs"
	"reflect"
	"strings"
	"testing"
)

func TestSelect(t *testing.T) {
	const dir = "/var/lib/etcd"
	osDisk := Disk{Name: "vda", Path: "/dev/vda", Size: 4 << 30, InUse: "vda2 mounted at /", Contents: Contents{Kind: KindGPT},
		Partitions: []Disk{
			{Name: "vda1", Path: "/dev/vda1", Contents: Contents{Kind: KindVFAT, Label: "EFI"}},
			{Name: "vda2", Path: "/dev/vda2", Mounts: []string{"/"}, InUse: "mounted at /", Contents: Contents{Kind: KindSquashfs}},
		}}
	disk := func(name string, c Contents) Disk {
		return Disk{Name: name, Path: "/dev/" + name, Size: 20 << 30, Contents: c}
	}
	blank := func(name string) Disk { return disk(name, Contents{Blank: true}) }
	ours := func(name string) Disk { return disk(name, Contents{Kind: KindExt4, Label: Label}) }
	scratch := disk("vdb", Contents{Kind: KindExt4, Label: "scratch"})
	seed := Disk{Name: "sr0", Path: "/dev/sr0", Size: 1 << 20, ReadOnly: true, Removable: true, Contents: Contents{Kind: KindISO9660, Label: "cidata"}}
	readOnlyBlank := blank("vdc")
	readOnlyBlank.ReadOnly = true
	usb := blank("sda")
	usb.Removable = true
	mountedHere := ours("vdb")
	mountedHere.Mounts, mountedHere.InUse = []string{dir}, "mounted at "+dir
	mountedElsewhere := ours("vdb")
	mountedElsewhere.Mounts, mountedElsewhere.InUse = []string{"/mnt"}, "mounted at /mnt"
	held := blank("vdb")
	held.InUse = "has holders dm-0"
	partitioned := disk("vdb", Contents{Kind: KindGPT})
	partitioned.Partitions = []Disk{{Name: "vdb1", Path: "/dev/vdb1", Contents: Contents{Kind: KindExt4, Label: Label}}}
	partitionedOS := osDisk
	partitionedOS.Partitions = append(partitionedOS.Partitions, Disk{Name: "vda3", Path: "/dev/vda3", Contents: Contents{Kind: KindExt4, Label: Label}})

	byID := "/dev/disk/by-id/virtio-etcd-data"
	tests := []struct {
		name    string
		disks   []Disk
		req     Request
		want    Choice // Disk is not compared
		wantErr []string
	}{
		// data.device
		{name: "device by-id symlink, blank", disks: []Disk{osDisk, blank("vdb")}, req: Request{Device: byID},
			want: Choice{Path: "/dev/vdb", Format: true, Reason: "data.device " + byID}},
		{name: "device ours", disks: []Disk{osDisk, ours("vdb")}, req: Request{Device: "/dev/vdb"},
			want: Choice{Path: "/dev/vdb", Reason: "data.device /dev/vdb"}},
		{name: "device ours with wipe is kept for the identity check", disks: []Disk{osDisk, ours("vdb")}, req: Request{Device: "/dev/vdb", Wipe: true},
			want: Choice{Path: "/dev/vdb", Wipe: true, Reason: "data.device /dev/vdb"}},
		{name: "device partition ours", disks: []Disk{osDisk, partitioned}, req: Request{Device: "/dev/vdb1"},
			want: Choice{Path: "/dev/vdb1", Reason: "data.device /dev/vdb1"}},
		{name: "device foreign refused", disks: []Disk{osDisk, scratch}, req: Request{Device: byID},
			wantErr: []string{`/dev/vdb holds an ext4 filesystem labelled "scratch" (not etcd-data); refusing to format it`, "data.wipe: true"}},
		{name: "device foreign with wipe", disks: []Disk{osDisk, scratch}, req: Request{Device: byID, Wipe: true},
			want: Choice{Path: "/dev/vdb", Format: true, Wipe: true, Reason: "data.device " + byID}},
		{name: "device whole disk whose partition is ours", disks: []Disk{osDisk, partitioned}, req: Request{Device: "/dev/vdb"},
			wantErr: []string{"/dev/vdb holds a GPT partition table; refusing", "Its partition /dev/vdb1 is an etcd-data volume"}},
		{name: "device in use, even with wipe", disks: []Disk{osDisk, blank("vdb")}, req: Request{Device: "/dev/vda", Wipe: true},
			wantErr: []string{"/dev/vda is in use (vda2 mounted at /)"}},
		{name: "device held by device-mapper", disks: []Disk{osDisk, held}, req: Request{Device: "/dev/vdb", Wipe: true},
			wantErr: []string{"in use (has holders dm-0)"}},
		{name: "device mounted elsewhere", disks: []Disk{osDisk, mountedElsewhere}, req: Request{Device: "/dev/vdb", Dir: dir},
			wantErr: []string{"in use (mounted at /mnt)"}},
		{name: "device already mounted at the data dir", disks: []Disk{osDisk, mountedHere}, req: Request{Device: "/dev/vdb", Dir: dir + "/"},
			want: Choice{Path: "/dev/vdb", Mounted: true, Reason: "data.device /dev/vdb"}},
		{name: "device read-only", disks: []Disk{osDisk, seed}, req: Request{Device: "/dev/sr0", Wipe: true},
			wantErr: []string{"/dev/sr0 is read-only"}},
		{name: "device unknown", disks: []Disk{osDisk, blank("vdb")}, req: Request{Device: "/dev/disk/by-id/nvme-x"},
			wantErr: []string{"data.device /dev/disk/by-id/nvme-x (/dev/nvme0n1) is not a disk or partition of this machine; its disks are /dev/vda, /dev/vdb"}},
		{name: "device does not exist", disks: []Disk{osDisk, blank("vdb")}, req: Request{Device: "/dev/vdz"},
			wantErr: []string{"data.device /dev/vdz: ", "file does not exist"}},

		// automatic
		{name: "auto ours beats blank", disks: []Disk{osDisk, blank("vdb"), ours("vdc")},
			want: Choice{Path: "/dev/vdc", Reason: "labelled etcd-data"}},
		{name: "auto ours partition on the OS disk", disks: []Disk{partitionedOS, blank("vdb")},
			want: Choice{Path: "/dev/vda3", Reason: "labelled etcd-data"}},
		{name: "auto two ours", disks: []Disk{osDisk, ours("vdb"), partitioned},
			wantErr: []string{"/dev/vdb, /dev/vdb1 are all labelled etcd-data; set data.device"}},
		{name: "auto ours mounted at the data dir", disks: []Disk{osDisk, mountedHere}, req: Request{Dir: dir},
			want: Choice{Path: "/dev/vdb", Mounted: true, Reason: "labelled etcd-data"}},
		{name: "auto ours in use", disks: []Disk{osDisk, mountedElsewhere}, req: Request{Dir: dir},
			wantErr: []string{"/dev/vdb is labelled etcd-data but in use (mounted at /mnt)"}},
		{name: "auto the one blank disk", disks: []Disk{osDisk, seed, blank("vdb"), readOnlyBlank, usb, held},
			want: Choice{Path: "/dev/vdb", Format: true, Reason: "the only blank disk besides the OS disk"}},
		{name: "auto two blank disks", disks: []Disk{osDisk, blank("vdb"), blank("vdc")},
			wantErr: []string{"/dev/vdb, /dev/vdc are all blank; set data.device"}},
		{name: "auto nothing usable", disks: []Disk{osDisk, seed, scratch, readOnlyBlank, usb},
			wantErr: []string{
				"no data volume: /dev/vda is in use (vda2 mounted at /)",
				`/dev/sr0 is read-only and holds an ISO 9660 filesystem labelled "cidata"`,
				`/dev/vdb holds an ext4 filesystem labelled "scratch" (not etcd-data)`,
				"/dev/vdc is read-only and holds nothing (blank)",
				"/dev/sda is removable media holding nothing (blank)",
				"Attach a blank disk, or set data.device (and data.wipe: true to erase what it holds)",
			}},
		{name: "auto ext3 labelled etcd-data is not ours", disks: []Disk{osDisk, disk("vdb", Contents{Kind: KindExt3, Label: Label})},
			wantErr: []string{`/dev/vdb holds an ext3 filesystem labelled "etcd-data" (labelled etcd-data, but not ext4)`}},
		{name: "auto no disks", disks: nil,
			wantErr: []string{"no data volume: this machine has no disks; attach a blank disk"}},
		{name: "auto only the OS disk", disks: []Disk{osDisk},
			wantErr: []string{"no data volume: /dev/vda is in use (vda2 mounted at /). Attach a blank disk"}},
	}
	resolve := func(p string) (string, error) {
		switch p {
		case byID:
			return "/dev/vdb", nil
		case "/dev/disk/by-id/nvme-x":
			return "/dev/nvme0n1", nil
		case "/dev/vdz":
			return "", &fs.PathError{Op: "lstat", Path: p, Err: fs.ErrNotExist}
		}
		return p, nil
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Resolve = resolve
			got, err := Select(tt.disks, tt.req)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("Select = %+v, want an error", got)
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q\nlacks %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Disk.Path != got.Path {
				t.Errorf("Choice.Disk is %s, Path %s", got.Disk.Path, got.Path)
			}
			got.Disk = Disk{}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Select =\n%+v, want\n%+v", got, tt.want)
			}
		})
	}
}
