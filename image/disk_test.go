package image

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/etcd-appliance/appliance/internal/testenv"
)

func TestStableGUID(t *testing.T) {
	a, b := stableGUID("build1", "root"), stableGUID("build1", "root")
	if a != b {
		t.Fatalf("same inputs gave %s and %s", a, b)
	}
	if stableGUID("build2", "root") == a || stableGUID("build1", "esp") == a {
		t.Error("different build or name gave the same GUID")
	}
	if !regexp.MustCompile(`^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$`).MatchString(a) {
		t.Errorf("%s is not a version-4 style GUID", a)
	}
}

func TestLayout(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	if err := os.WriteFile(small, make([]byte, mib+1), 0o644); err != nil {
		t.Fatal(err)
	}
	parts := []partition{{name: "a", file: small}, {name: "b", file: small, size: 8 * mib}, {name: "c", file: small}}
	if err := layout(parts); err != nil {
		t.Fatal(err)
	}
	want := []struct{ start, size int64 }{{mib, 2 * mib}, {3 * mib, 8 * mib}, {11 * mib, 2 * mib}}
	for i, w := range want {
		if parts[i].start != w.start || parts[i].size != w.size {
			t.Errorf("partition %s: start %d size %d, want %d %d", parts[i].name, parts[i].start, parts[i].size, w.start, w.size)
		}
	}
	if err := layout([]partition{{name: "huge", file: small, size: DiskSize}}); err == nil {
		t.Error("a partition larger than the disk was accepted")
	}
}

// TestMakeDisk builds a real GPT image and reads it back with sgdisk and the bytes.
func TestMakeDisk(t *testing.T) {
	testenv.LookPath(t, "sgdisk")
	dir := t.TempDir()
	content := filepath.Join(dir, "content")
	data := append(bytes.Repeat([]byte{0}, 128<<10), []byte("root filesystem")...)
	if err := os.WriteFile(content, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "disk.raw")
	parts := []partition{{name: "ESP", typeGUID: "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", file: content}, {name: "root", typeGUID: "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", file: content}}
	if err := makeDisk(context.Background(), out, "test", parts); err != nil {
		t.Fatal(err)
	}
	info, err := exec.Command("sgdisk", "-i", "2", out).CombinedOutput()
	if err != nil {
		t.Fatalf("sgdisk -i: %v\n%s", err, info)
	}
	if !strings.Contains(string(info), strings.ToUpper(PartUUID("test", "root"))) || !strings.Contains(string(info), "'root'") {
		t.Errorf("partition 2 is not the root partition with the derived GUID:\n%s", info)
	}
	img, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(img)) != DiskSize {
		t.Errorf("image is %d bytes, want %d", len(img), DiskSize)
	}
	if got := img[parts[1].start : parts[1].start+int64(len(data))]; !bytes.Equal(got, data) {
		t.Error("root partition content differs from its file")
	}
	if allocated(out) > 4*mib {
		t.Errorf("image allocates %d bytes: zero blocks were written, not skipped", allocated(out))
	}
}

func TestStabiliseVHD(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.vhd")
	footer := make([]byte, 512)
	copy(footer, "conectix")
	copy(footer[68:84], "random-uuid-0000")
	if err := os.WriteFile(path, append(make([]byte, 1024), footer...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := stabiliseVHD(path, "build", 946684800+100); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	f := b[len(b)-512:]
	if ts := binary.BigEndian.Uint32(f[24:28]); ts != 100 {
		t.Errorf("timestamp %d, want 100 s after 2000-01-01", ts)
	}
	if string(f[68:84]) == "random-uuid-0000" {
		t.Error("UUID not replaced")
	}
	var sum uint32
	for i, c := range f {
		if i < 64 || i >= 68 {
			sum += uint32(c)
		}
	}
	if got := binary.BigEndian.Uint32(f[64:68]); got != ^sum {
		t.Errorf("checksum %08x, want %08x", got, ^sum)
	}
}

func TestFATSerialString(t *testing.T) {
	if got := fatSerialString(0x5EED0001); got != "5EED-0001" {
		t.Errorf("got %s", got)
	}
}
