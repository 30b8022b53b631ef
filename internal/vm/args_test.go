package vm

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/etcd-appliance/appliance/arch"
)

func mustArch(t *testing.T, name string) arch.Arch {
	t.Helper()
	a, err := arch.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// hasPair reports whether flag is directly followed by value in argv.
func hasPair(argv []string, flag, value string) bool {
	for i := 0; i+1 < len(argv); i++ {
		if argv[i] == flag && argv[i+1] == value {
			return true
		}
	}
	return false
}

func TestQemuArgs(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "img,1.raw") // the comma must be escaped in -drive
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	disks := []Disk{{Path: img, Format: "raw", Snapshot: true}, {Path: img, Format: "raw", Serial: "etcd-data"}, {Size: 1 << 30, Serial: "scratch"},
		{Path: img, Format: "raw", ReadOnly: true, Snapshot: true}} // read-only wins: no overlay needed
	fwd := []Forward{{GuestPort: 2379}, {GuestPort: 2381}}
	ports := map[int]int{2379: 40001, 2381: 40002}
	vmdir := filepath.Join(dir, "vm")
	overlay := "file=" + vmdir + "/disk0-overlay.qcow2"
	common := [][2]string{
		{"-display", "none"},
		{"-netdev", "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:40001-:2379,hostfwd=tcp:127.0.0.1:40002-:2381"},
		{"-device", "virtio-net-pci,netdev=net0,romfile="},
		{"-drive", "if=none,id=disk0,format=qcow2," + overlay + ",cache=unsafe"},
		{"-drive", "if=none,id=disk1,format=raw,file=" + strings.ReplaceAll(img, ",", ",,")},
		{"-device", "virtio-blk-pci,drive=disk1,serial=etcd-data"},
		{"-drive", "if=none,id=disk2,format=qcow2,file=" + vmdir + "/disk2-blank.qcow2"},
		{"-device", "virtio-blk-pci,drive=disk2,serial=scratch"},
		{"-drive", "if=none,id=disk3,format=raw,file=" + strings.ReplaceAll(img, ",", ",,") + ",readonly=on"},
		{"-chardev", "file,id=console,path=/dev/fd/3"},
		{"-serial", "chardev:console"},
		{"-qmp", "unix:" + vmdir + "/qmp.sock,server=on,wait=off"},
		{"-m", "1024"},
		{"-smp", "1"},
	}
	tests := []struct {
		name   string
		arch   string
		kernel bool
		want   [][2]string
		absent []string // substrings no argument may contain
	}{
		{
			name: "amd64 firmware", arch: "amd64",
			want: [][2]string{
				{"-machine", "q35,accel=tcg,smm=off"},
				{"-cpu", "max,erms=off,fsrm=off"},
				{"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd"},
				{"-drive", "if=pflash,format=raw,unit=1,file=" + vmdir + "/firmware-vars.fd"},
				{"-device", "virtio-blk-pci,drive=disk0,bootindex=0"},
			},
			absent: []string{"-kernel"},
		},
		{
			name: "arm64 firmware", arch: "arm64",
			want: [][2]string{
				{"-machine", "virt,accel=tcg"},
				{"-cpu", "max,pauth-impdef=on"},
				{"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/AAVMF/AAVMF_CODE.fd"},
				{"-drive", "if=pflash,format=raw,unit=1,file=" + vmdir + "/firmware-vars.fd"},
			},
		},
		{
			name: "ppc64le firmware", arch: "ppc64le",
			want: [][2]string{
				{"-machine", "pseries,accel=tcg,cap-cfpc=broken,cap-sbbc=broken,cap-ibs=broken,cap-ccf-assist=off"},
				{"-device", "virtio-blk-pci,drive=disk0,bootindex=0"},
			},
			absent: []string{"-cpu", "pflash"},
		},
		{
			name: "amd64 kernel", arch: "amd64", kernel: true,
			want: [][2]string{
				{"-kernel", "/k"},
				{"-initrd", "/i"},
				{"-append", "root=PARTUUID=x ro console=ttyS0,115200n8"},
				{"-device", "virtio-blk-pci,drive=disk0"},
			},
			absent: []string{"pflash", "bootindex"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Arch: mustArch(t, tc.arch), Disks: disks, HostForwards: fwd}
			if tc.kernel {
				cfg.Kernel, cfg.Initrd, cfg.Cmdline = "/k", "/i", "root=PARTUUID=x ro console=ttyS0,115200n8\n"
			}
			l, err := plan(cfg, vmdir, ports)
			if err != nil {
				t.Fatal(err)
			}
			l.console = "/dev/fd/3"
			var shells []string
			for _, st := range l.steps {
				shells = append(shells, st.shell)
			}
			wantSteps := []string{
				"qemu-img create -q -f qcow2 -F raw -b " + img + " " + vmdir + "/disk0-overlay.qcow2",
				"qemu-img create -q -f qcow2 " + vmdir + "/disk2-blank.qcow2 1073741824",
			}
			for _, w := range wantSteps {
				if !slices.Contains(shells, w) {
					t.Errorf("missing step %s in\n%s", w, strings.Join(shells, "\n"))
				}
			}
			argv := qemuArgs(cfg, l)
			if argv[0] != cfg.Arch.QEMU.Binary {
				t.Errorf("argv[0] = %q, want %q", argv[0], cfg.Arch.QEMU.Binary)
			}
			for _, p := range append(slices.Clone(common), tc.want...) {
				if !hasPair(argv, p[0], p[1]) {
					t.Errorf("missing %s %s in\n%s", p[0], p[1], strings.Join(argv, "\n"))
				}
			}
			for _, flag := range []string{"-no-reboot", "-nodefaults"} {
				if n := count(argv, flag); n != 1 {
					t.Errorf("%s appears %d times, want 1", flag, n)
				}
			}
			for _, a := range argv {
				for _, bad := range append([]string{"kvm"}, tc.absent...) {
					if strings.Contains(a, bad) {
						t.Errorf("argument %q contains %q", a, bad)
					}
				}
			}
		})
	}
}

// TestQemuArgsCloudFormats: a VHD is attached with qemu's vpc driver as it is, and a
// streamOptimized VMDK (which takes no random writes) under a qcow2 overlay naming it.
func TestQemuArgsCloudFormats(t *testing.T) {
	dir := t.TempDir()
	vhd, vmdk := filepath.Join(dir, "os.vhd"), filepath.Join(dir, "os.vmdk")
	for _, f := range []string{vhd, vmdk} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	vmdir := filepath.Join(dir, "vm")
	cfg := Config{Arch: mustArch(t, "amd64"), Disks: []Disk{{Path: vhd, Format: "vpc", ReadOnly: true}, {Path: vmdk, Format: "vmdk", Snapshot: true}}}
	l, err := plan(cfg, vmdir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "qemu-img create -q -f qcow2 -F vmdk -b " + vmdk + " " + vmdir + "/disk1-overlay.qcow2"; len(l.steps) < 1 || l.steps[len(l.steps)-1].shell != want {
		t.Errorf("steps %v, want the last %s", l.steps, want)
	}
	argv := qemuArgs(cfg, l)
	for _, p := range [][2]string{
		{"-drive", "if=none,id=disk0,format=vpc,file=" + vhd + ",readonly=on"},
		{"-drive", "if=none,id=disk1,format=qcow2,file=" + vmdir + "/disk1-overlay.qcow2,cache=unsafe"},
	} {
		if !hasPair(argv, p[0], p[1]) {
			t.Errorf("missing %s %s in\n%s", p[0], p[1], strings.Join(argv, "\n"))
		}
	}
}

func count(argv []string, s string) int {
	n := 0
	for _, a := range argv {
		if a == s {
			n++
		}
	}
	return n
}

func TestPlanFirmwareCopies(t *testing.T) {
	dir := t.TempDir()
	code := filepath.Join(dir, "code.fd")
	vars := filepath.Join(dir, "vars.fd")
	for _, f := range []string{code, vars} {
		if err := os.WriteFile(f, bytes.Repeat([]byte{0xAA}, 1000), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		size     int64
		wantCode string // "" for a copy in the VM dir
		wantSize int64
		wantErr  bool
	}{
		{name: "pad", size: 4096, wantSize: 4096},
		{name: "exact size uses the original code", size: 1000, wantCode: code, wantSize: 1000},
		{name: "no size", size: 0, wantCode: code, wantSize: 1000},
		{name: "too large", size: 512, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vmdir := t.TempDir()
			a := arch.Arch{Name: "fake", QEMU: arch.QEMU{Binary: "q", FirmwareCode: code, FirmwareVars: vars, FirmwareSize: tc.size}}
			l, err := plan(Config{Arch: a}, vmdir, nil)
			if tc.wantErr {
				if err == nil {
					t.Fatal("plan succeeded, want error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range l.steps {
				if err := s.run(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			wantCode := tc.wantCode
			if wantCode == "" {
				wantCode = filepath.Join(vmdir, "firmware-code.fd")
			}
			if l.firmwareCode != wantCode {
				t.Errorf("code = %s, want %s", l.firmwareCode, wantCode)
			}
			if want := filepath.Join(vmdir, "firmware-vars.fd"); l.firmwareVars != want {
				t.Errorf("vars = %s, want a copy %s", l.firmwareVars, want)
			}
			for _, f := range []string{l.firmwareCode, l.firmwareVars} {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if int64(len(b)) != tc.wantSize || !bytes.Equal(b[:1000], bytes.Repeat([]byte{0xAA}, 1000)) || bytes.ContainsFunc(b[1000:], func(r rune) bool { return r != 0 }) {
					t.Errorf("%s: %d bytes, want %d: the original then zeros", f, len(b), tc.wantSize)
				}
			}
			if fi, _ := os.Stat(code); fi.Size() != 1000 {
				t.Errorf("original firmware modified")
			}
		})
	}
}

func TestShellQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain/path-1.raw", "plain/path-1.raw"},
		{"", "''"},
		{"a b", "'a b'"},
		{"it's", `'it'\''s'`},
		{"root=PARTUUID=x ro", "'root=PARTUUID=x ro'"},
	}
	for _, tc := range tests {
		if got := shellQuote(tc.in); got != tc.want {
			t.Errorf("shellQuote(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestQemuArgsTap(t *testing.T) {
	cfg := Config{Arch: mustArch(t, "arm64"), Network: Network{Tap: "tap1", Netns: "etcdapp-1-0", MAC: "52:54:00:00:00:11"}}
	l, err := plan(cfg, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	argv := qemuArgs(cfg, l)
	if want := []string{"ip", "netns", "exec", "etcdapp-1-0", cfg.Arch.QEMU.Binary}; !slices.Equal(argv[:5], want) {
		t.Errorf("argv starts %q, want %q", argv[:5], want)
	}
	for _, p := range [][2]string{
		{"-netdev", "tap,id=net0,ifname=tap1,script=no,downscript=no"},
		{"-device", cfg.Arch.QEMU.NIC + ",netdev=net0,romfile=,mac=52:54:00:00:00:11"},
	} {
		if !hasPair(argv, p[0], p[1]) {
			t.Errorf("missing %s %s in\n%s", p[0], p[1], strings.Join(argv, "\n"))
		}
	}
	if slices.ContainsFunc(argv, func(a string) bool { return strings.Contains(a, "user,") }) {
		t.Errorf("user-mode netdev with a tap:\n%s", strings.Join(argv, "\n"))
	}
}
