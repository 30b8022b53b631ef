package image

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cavaliergopher/cpio"
)

// testModulesDep is shaped like depmod output: each line holds the full closure, users
// before what they use.
const testModulesDep = `kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko: kernel/drivers/virtio/virtio.ko
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/block/xen-blkfront.ko.xz:
kernel/drivers/md/dm-verity.ko: kernel/drivers/md/dm-bufio.ko kernel/drivers/md/dm-mod.ko
kernel/drivers/md/dm-bufio.ko: kernel/drivers/md/dm-mod.ko
kernel/drivers/md/dm-mod.ko:
`

const testModulesBuiltin = `kernel/fs/squashfs/squashfs.ko
kernel/drivers/scsi/sd_mod.ko
`

func TestInitramfsModules(t *testing.T) {
	tests := []struct {
		name        string
		dep         string
		names       []string
		wantFiles   []string
		wantMissing []string
		wantErr     string
	}{
		{
			name:      "dependencies first in reverse listed order",
			dep:       testModulesDep,
			names:     []string{"virtio_blk"},
			wantFiles: []string{"kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_ring.ko", "kernel/drivers/block/virtio_blk.ko"},
		},
		{
			name:  "shared dependencies once",
			dep:   testModulesDep,
			names: []string{"virtio_blk", "virtio_pci", "virtio_blk"},
			wantFiles: []string{
				"kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_ring.ko", "kernel/drivers/block/virtio_blk.ko",
				"kernel/drivers/virtio/virtio_pci_legacy_dev.ko", "kernel/drivers/virtio/virtio_pci_modern_dev.ko", "kernel/drivers/virtio/virtio_pci.ko",
			},
		},
		{
			name:      "dash and underscore are the same",
			dep:       testModulesDep,
			names:     []string{"xen_blkfront", "dm_verity", "dm-mod"},
			wantFiles: []string{"kernel/drivers/block/xen-blkfront.ko.xz", "kernel/drivers/md/dm-mod.ko", "kernel/drivers/md/dm-bufio.ko", "kernel/drivers/md/dm-verity.ko"},
		},
		{
			name:        "builtin skipped, unknown missing",
			dep:         testModulesDep,
			names:       []string{"squashfs", "sd-mod", "nosuch", "virtio", "nosuch", "ena"},
			wantFiles:   []string{"kernel/drivers/virtio/virtio.ko"},
			wantMissing: []string{"nosuch", "ena"},
		},
		{
			name:      "non-closed dependency lists are followed",
			dep:       "a.ko: b.ko\nb.ko: c.ko\nc.ko:\n",
			names:     []string{"a"},
			wantFiles: []string{"c.ko", "b.ko", "a.ko"},
		},
		{name: "cycle", dep: "a.ko: b.ko\nb.ko: a.ko\n", names: []string{"a"}, wantErr: "cycle"},
		{name: "dangling dependency", dep: "a.ko: b.ko\n", names: []string{"a"}, wantErr: "no entry"},
		{name: "malformed", dep: "a.ko b.ko\n", names: []string{"a"}, wantErr: "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, missing, err := InitramfsModules([]byte(tt.dep), []byte(testModulesBuiltin), tt.names)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(files, tt.wantFiles) {
				t.Errorf("files = %q\nwant %q", files, tt.wantFiles)
			}
			if !reflect.DeepEqual(missing, tt.wantMissing) {
				t.Errorf("missing = %q, want %q", missing, tt.wantMissing)
			}
		})
	}
}

// initramfsInputs creates a fake init binary and module tree.
func initramfsInputs(t *testing.T) (initBin, modDir string, files []string) {
	t.Helper()
	dir := t.TempDir()
	initBin = filepath.Join(dir, "init")
	modDir = filepath.Join(dir, "modules")
	files = []string{"kernel/drivers/virtio/virtio.ko", "kernel/drivers/block/virtio_blk.ko", "kernel/drivers/block/xen-blkfront.ko.xz"}
	write := func(p, s string) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(initBin, "\x7fELF fake init")
	for i, f := range files {
		write(filepath.Join(modDir, f), strings.Repeat("m", i+1)) // sizes exercise the padding
	}
	return initBin, modDir, files
}

func TestWriteInitramfsDeterministic(t *testing.T) {
	initBin, modDir, files := initramfsInputs(t)
	epoch := time.Unix(1700000000, 0)
	var a, b bytes.Buffer
	if err := WriteInitramfs(&a, initBin, modDir, files[:1], files[1:], epoch); err != nil {
		t.Fatal(err)
	}
	// Different mtimes on disk must not leak into the archive.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(initBin, later, later); err != nil {
		t.Fatal(err)
	}
	if err := WriteInitramfs(&b, initBin, modDir, files[:1], files[1:], epoch); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two writes with the same inputs differ")
	}
	if a.Len()%4 != 0 {
		t.Errorf("archive length %d is not 4-byte aligned", a.Len())
	}
}

func TestWriteInitramfsContents(t *testing.T) {
	initBin, modDir, files := initramfsInputs(t)
	epoch := time.Unix(1700000000, 0)
	var buf bytes.Buffer
	if err := WriteInitramfs(&buf, initBin, modDir, files[:1], files[1:], epoch); err != nil {
		t.Fatal(err)
	}

	type entry struct {
		mode cpio.FileMode
		body string
	}
	got := map[string]entry{}
	var order []string
	r := cpio.NewReader(bytes.NewReader(buf.Bytes()))
	for {
		h, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Guid != 0 || !h.ModTime.Equal(epoch) {
			t.Errorf("%s: uid %d gid %d mtime %v", h.Name, h.Uid, h.Guid, h.ModTime)
		}
		got[h.Name] = entry{h.Mode, string(body)}
		order = append(order, h.Name)
	}

	want := map[string]entry{
		"dev":                            {cpio.TypeDir | 0o755, ""},
		"dev/console":                    {cpio.TypeChar | 0o600, ""},
		"etc":                            {cpio.TypeDir | 0o755, ""},
		"etc/modules.load":               {cpio.TypeReg | 0o644, "lib/modules/virtio.ko\n"},
		"etc/modules.probe":              {cpio.TypeReg | 0o644, "lib/modules/virtio_blk.ko\nlib/modules/xen-blkfront.ko.xz\n"},
		"init":                           {cpio.TypeReg | 0o755, "\x7fELF fake init"},
		"lib":                            {cpio.TypeDir | 0o755, ""},
		"lib/modules":                    {cpio.TypeDir | 0o755, ""},
		"lib/modules/virtio.ko":          {cpio.TypeReg | 0o644, "m"},
		"lib/modules/virtio_blk.ko":      {cpio.TypeReg | 0o644, "mm"},
		"lib/modules/xen-blkfront.ko.xz": {cpio.TypeReg | 0o644, "mmm"},
		"proc":                           {cpio.TypeDir | 0o755, ""},
		"sys":                            {cpio.TypeDir | 0o755, ""},
		"sysroot":                        {cpio.TypeDir | 0o755, ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("archive =\n%+v\nwant\n%+v", got, want)
	}
	for i := 1; i < len(order); i++ {
		if order[i-1] >= order[i] {
			t.Errorf("entries not sorted: %q before %q", order[i-1], order[i])
		}
	}

	// The cpio package does not expose rdev, so read /dev/console's header fields directly.
	raw := buf.Bytes()
	i := bytes.Index(raw, []byte("dev/console\x00"))
	if i < 110 {
		t.Fatal("no dev/console header")
	}
	field := func(n int) uint64 { // n-th (0-based) 8-digit field after the magic; 9 and 10 are rdevmajor, rdevminor
		h := raw[i-110:]
		v, err := strconv.ParseUint(string(h[6+8*n:14+8*n]), 16, 32)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if major, minor := field(9), field(10); major != 5 || minor != 1 {
		t.Errorf("/dev/console rdev = %d:%d, want 5:1", major, minor)
	}
}

func TestWriteInitramfsErrors(t *testing.T) {
	initBin, modDir, files := initramfsInputs(t)
	tests := []struct {
		name    string
		init    string
		files   []string
		probe   []string
		epoch   time.Time
		wantErr string
	}{
		{"missing module", initBin, []string{"kernel/nosuch.ko"}, nil, time.Unix(0, 0), "nosuch.ko"},
		{"missing probed module", initBin, files, []string{"kernel/nosuch.ko"}, time.Unix(0, 0), "nosuch.ko"},
		{"missing init", initBin + ".absent", files, nil, time.Unix(0, 0), "init"},
		{"basename clash", initBin, []string{files[0], files[0]}, nil, time.Unix(0, 0), "would both be"},
		{"in both lists", initBin, files, files[:1], time.Unix(0, 0), "would both be"},
		{"epoch before 1970", initBin, files, nil, time.Unix(-1, 0), "epoch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := WriteInitramfs(io.Discard, tt.init, modDir, tt.files, tt.probe, tt.epoch)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
