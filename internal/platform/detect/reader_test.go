package detect

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/etcd-appliance/appliance/internal/testenv"
)

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func link(t *testing.T, target, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

func fakeRoots(t *testing.T) Reader {
	root := t.TempDir()
	return Reader{ProcRoot: filepath.Join(root, "proc"), SysRoot: filepath.Join(root, "sys"), DevRoot: filepath.Join(root, "dev")}
}

func TestFacts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, r Reader)
		want  Facts
	}{
		{
			name:  "nothing there",
			setup: func(*testing.T, Reader) {},
			want:  Facts{DMI: map[string]string{}},
		},
		{
			name: "amd64 qemu with a NoCloud seed",
			setup: func(t *testing.T, r Reader) {
				write(t, filepath.Join(r.ProcRoot, "cmdline"), "BOOT_IMAGE=/vmlinuz console=ttyS0 etcd.platform=qemu\n")
				dmi := filepath.Join(r.SysRoot, "class/dmi/id")
				write(t, filepath.Join(dmi, "sys_vendor"), "QEMU\n")
				write(t, filepath.Join(dmi, "product_name"), "Standard PC (Q35 + ICH9, 2009)\n")
				write(t, filepath.Join(dmi, "bios_vendor"), "EFI Development Kit II / OVMF\n")
				write(t, filepath.Join(dmi, "chassis_asset_tag"), "\n")
				write(t, filepath.Join(dmi, "product_serial"), "not read\n")
				link(t, "../../sr0", filepath.Join(r.DevRoot, "disk/by-label/cidata"))
				link(t, "../../vda1", filepath.Join(r.DevRoot, `disk/by-label/etcd\x20data`))
			},
			want: Facts{
				Cmdline: "BOOT_IMAGE=/vmlinuz console=ttyS0 etcd.platform=qemu",
				DMI: map[string]string{
					"sys_vendor":   "QEMU",
					"product_name": "Standard PC (Q35 + ICH9, 2009)",
					"bios_vendor":  "EFI Development Kit II / OVMF",
				},
				Labels: []string{"cidata", "etcd data"},
			},
		},
		{
			name: "ppc64le pseries",
			setup: func(t *testing.T, r Reader) {
				write(t, filepath.Join(r.ProcRoot, "cmdline"), "console=hvc0\n")
				write(t, filepath.Join(r.ProcRoot, "device-tree/model"), "IBM pSeries (emulated by qemu)\x00")
			},
			want: Facts{Cmdline: "console=hvc0", DMI: map[string]string{}, DeviceTreeModel: "IBM pSeries (emulated by qemu)"},
		},
		{
			name: "arm64 virt without firmware",
			setup: func(t *testing.T, r Reader) {
				write(t, filepath.Join(r.ProcRoot, "cmdline"), "console=ttyAMA0\n")
				write(t, filepath.Join(r.ProcRoot, "device-tree/compatible"), "linux,dummy-virt\x00")
			},
			want: Facts{Cmdline: "console=ttyAMA0", DMI: map[string]string{}, DeviceTreeCompatible: []string{"linux,dummy-virt"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fakeRoots(t)
			tc.setup(t, r)
			got, err := r.Facts()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Facts =\n%#v\nwant\n%#v", got, tc.want)
			}
		})
	}
}

func TestFactsReadError(t *testing.T) {
	r := fakeRoots(t)
	// a directory where a file should be: not "missing", so an error
	if err := os.MkdirAll(filepath.Join(r.SysRoot, "class/dmi/id/sys_vendor"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Facts(); err == nil {
		t.Fatal("no error")
	}
}

// The label→device resolution the volume mounts use (the mount itself needs root and a
// device, so it is not unit-tested).
func TestLabelDevice(t *testing.T) {
	for _, tc := range []struct {
		r     Reader
		label string
		want  string
	}{
		{Reader{}, "cidata", "/dev/disk/by-label/cidata"},
		{Reader{}, "config-2", "/dev/disk/by-label/config-2"},
		{Reader{DevRoot: "/tmp/dev"}, "CIDATA", "/tmp/dev/disk/by-label/CIDATA"},
		{Reader{}, "etcd data", `/dev/disk/by-label/etcd\x20data`},
		{Reader{}, "a/b", `/dev/disk/by-label/a\x2fb`},
	} {
		if got := tc.r.LabelDevice(tc.label); got != tc.want {
			t.Errorf("LabelDevice(%q) = %s, want %s", tc.label, got, tc.want)
		}
	}
}

// A label found by Facts resolves to the link it was read from.
func TestLabelRoundTrip(t *testing.T) {
	r := fakeRoots(t)
	for _, name := range []string{"cidata", "config-2", `my\x20seed`, `x\x2fy`} {
		link(t, "../../sr0", filepath.Join(r.DevRoot, "disk/by-label", name))
	}
	f, err := r.Facts()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range f.Labels {
		if _, err := os.Lstat(r.LabelDevice(l)); err != nil {
			t.Errorf("label %q: %v", l, err)
		}
	}
	if len(f.Labels) != 4 {
		t.Errorf("labels %q", f.Labels)
	}
}

// Without udev, seed volumes are found by reading the disks: an ISO 9660 seed on a whole
// disk and a FAT config drive on a partition.
func TestLabelsWithoutUdev(t *testing.T) {
	for _, tool := range []string{"xorriso", "mkfs.vfat"} {
		testenv.LookPath(t, tool)
	}
	r := fakeRoots(t)
	seedDir := t.TempDir()
	write(t, filepath.Join(seedDir, "meta-data"), "instance-id: i-1\n")
	write(t, filepath.Join(seedDir, "user-data"), "version: 1\n")
	iso := filepath.Join(r.DevRoot, "vdc")
	os.MkdirAll(r.DevRoot, 0o755)
	if out, err := exec.Command("xorriso", "-as", "mkisofs", "-quiet", "-V", "cidata", "-J", "-R", "-o", iso, seedDir).CombinedOutput(); err != nil {
		t.Fatalf("xorriso: %v: %s", err, out)
	}
	part := filepath.Join(r.DevRoot, "vdd1")
	write(t, part, "")
	if err := os.Truncate(part, 8<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.vfat", "-n", "config-2", part).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.vfat: %v: %s", err, out)
	}
	write(t, filepath.Join(r.SysRoot, "block", "vdc", "size"), "0\n")
	write(t, filepath.Join(r.SysRoot, "block", "vdd", "size"), "0\n")
	write(t, filepath.Join(r.SysRoot, "block", "vdd", "vdd1", "partition"), "1\n")
	write(t, filepath.Join(r.DevRoot, "vdd"), "") // the whole disk reads as nothing

	f, err := r.Facts()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"CONFIG-2", "cidata"}; !reflect.DeepEqual(f.Labels, want) && !reflect.DeepEqual(f.Labels, []string{"cidata", "config-2"}) {
		t.Errorf("labels %q, want %q (FAT labels may be upper case)", f.Labels, want)
	}
	if got := r.LabelDevice("cidata"); got != iso {
		t.Errorf("cidata is on %s, want %s", got, iso)
	}
}
