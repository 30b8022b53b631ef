package qemu

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcd-appliance/appliance/arch"
)

func TestTrimBlockConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want []byte
	}{
		{"padded", append([]byte("version: 1\n"), make([]byte, 4085)...), []byte("version: 1\n")},
		{"unpadded", []byte(`{"ignition":{}}`), []byte(`{"ignition":{}}`)},
		{"stops at first NUL", []byte("a\x00b\x00"), []byte("a")},
		{"all NULs", make([]byte, 512), nil},
		{"empty", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := TrimBlockConfig(tc.in)
			if !bytes.Equal(got, tc.want) || (tc.want == nil) != (got == nil) {
				t.Errorf("TrimBlockConfig = %q, want %q", got, tc.want)
			}
		})
	}
}

// Every arch in the table says how its qemu guests get a config.
func TestEveryArchHasAChannel(t *testing.T) {
	for _, a := range arch.All() {
		if a.QEMUConfig != arch.FwCfg && a.QEMUConfig != arch.BlockDev {
			t.Errorf("arch %s: QEMUConfig %q", a.Name, a.QEMUConfig)
		}
	}
}

func mustArch(t *testing.T, name string) arch.Arch {
	t.Helper()
	a, err := arch.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFetch(t *testing.T) {
	const cfg = "version: 1\ncluster:\n  name: c\n"
	fwcfgDir := "firmware/qemu_fw_cfg"
	for _, tc := range []struct {
		name    string
		arch    string
		setup   func(t *testing.T, sys, dev string)
		want    []byte
		wantErr string
	}{
		{
			name: "amd64 fw_cfg item",
			arch: "amd64",
			setup: func(t *testing.T, sys, dev string) {
				write(t, filepath.Join(sys, fwcfgDir, "by_name/opt/com.coreos/config/raw"), []byte(cfg))
			},
			want: []byte(cfg),
		},
		{
			name: "arm64 fw_cfg without the item",
			arch: "arm64",
			setup: func(t *testing.T, sys, dev string) {
				write(t, filepath.Join(sys, fwcfgDir, "by_name/etc/table-loader/raw"), []byte("x"))
			},
			want: nil,
		},
		{
			name:    "fw_cfg module not loaded",
			arch:    "amd64",
			setup:   func(t *testing.T, sys, dev string) {},
			wantErr: "qemu_fw_cfg",
		},
		{
			name: "fw_cfg ignores a config disk",
			arch: "amd64",
			setup: func(t *testing.T, sys, dev string) {
				write(t, filepath.Join(sys, fwcfgDir, "rev"), []byte("3"))
				configDisk(t, sys, dev, "vdb", []byte(cfg))
			},
			want: nil,
		},
		{
			name: "ppc64le config disk padded with NULs",
			arch: "ppc64le",
			setup: func(t *testing.T, sys, dev string) {
				data := append([]byte(cfg), make([]byte, 512*1024)...)
				configDisk(t, sys, dev, "vdb", data)
			},
			want: []byte(cfg),
		},
		{
			name: "ppc64le without a config disk",
			arch: "ppc64le",
			setup: func(t *testing.T, sys, dev string) {
				write(t, filepath.Join(sys, "block/vda/serial"), []byte("etcd-data\n")) // another disk
				write(t, filepath.Join(dev, "vda"), []byte("not a config"))
			},
			want: nil,
		},
		{
			name: "ppc64le blank config disk",
			arch: "ppc64le",
			setup: func(t *testing.T, sys, dev string) {
				configDisk(t, sys, dev, "vdc", make([]byte, 4096))
			},
			want: nil,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sys, dev := t.TempDir(), t.TempDir()
			tc.setup(t, sys, dev)
			md, err := Source{Arch: mustArch(t, tc.arch), SysfsRoot: sys, DevRoot: dev}.Fetch(context.Background())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if md.Platform != Name || md.Hostname != "" || md.InstanceID != "" {
				t.Errorf("metadata = %+v", md)
			}
			if !bytes.Equal(md.UserData, tc.want) || (tc.want == nil) != (md.UserData == nil) {
				t.Errorf("UserData = %q, want %q", md.UserData, tc.want)
			}
		})
	}
}

func TestFetchUnknownChannel(t *testing.T) {
	_, err := Source{Arch: arch.Arch{Name: "riscv64"}}.Fetch(context.Background())
	if err == nil || !strings.Contains(err.Error(), "riscv64") {
		t.Fatalf("err = %v", err)
	}
}

func TestFetchTooLarge(t *testing.T) {
	sys, dev := t.TempDir(), t.TempDir()
	configDisk(t, sys, dev, "vdb", bytes.Repeat([]byte("a"), maxBytes+1))
	_, err := Source{Arch: mustArch(t, "ppc64le"), SysfsRoot: sys, DevRoot: dev}.Fetch(context.Background())
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err = %v", err)
	}
}

func TestDefaultPaths(t *testing.T) {
	s := Source{}
	if got, want := s.FwCfgPath(), "/sys/firmware/qemu_fw_cfg/by_name/opt/com.coreos/config/raw"; got != want {
		t.Errorf("FwCfgPath = %s, want %s", got, want)
	}
}

// configDisk fakes a virtio disk with serial "ignition": its sysfs serial and its device node.
func configDisk(t *testing.T, sys, dev, name string, content []byte) {
	t.Helper()
	write(t, filepath.Join(sys, "block", name, "serial"), []byte(DiskSerial+"\n"))
	write(t, filepath.Join(dev, name), content)
}
