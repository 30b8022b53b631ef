package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/etcd-appliance/appliance/internal/testenv"
)

// TestConvertReadsBack converts a small raw disk to every format and reads each back as a
// user's tool would: qemu-img with the driver QEMUFormat names must see the raw disk's exact
// size and contents (a VHD's size must not be rounded to a CHS geometry), and the gce tarball
// must hold exactly disk.raw with the raw disk's bytes.
func TestConvertReadsBack(t *testing.T) {
	testenv.LookPath(t, "qemu-img")
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	const size = 5 << 20 // not a whole number of CHS cylinders
	data := make([]byte, size)
	for i := 0; i < size; i += 4096 * 7 {
		copy(data[i:], "etcd-appliance")
	}
	if err := os.WriteFile(raw, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for f, ext := range Formats {
		if f == "raw" || f == "kernel" {
			continue
		}
		t.Run(f, func(t *testing.T) {
			out := filepath.Join(dir, "out."+ext)
			if err := convert(t.Context(), f, raw, out, "build/amd64", 946684800); err != nil {
				t.Fatal(err)
			}
			if f == "gce" {
				if QEMUFormat(f) != "" {
					t.Errorf("QEMUFormat(gce) = %q, want none: qemu cannot attach a tarball", QEMUFormat(f))
				}
				checkGCETarball(t, out, data)
				return
			}
			qf := QEMUFormat(f)
			if qf == "" {
				t.Fatalf("QEMUFormat(%s) is empty", f)
			}
			b, err := exec.Command("qemu-img", "info", "--output=json", "-f", qf, out).CombinedOutput()
			if err != nil {
				t.Fatalf("qemu-img info -f %s: %v: %s", qf, err, b)
			}
			var info struct {
				VirtualSize int64 `json:"virtual-size"`
			}
			if err := json.Unmarshal(b, &info); err != nil {
				t.Fatal(err)
			}
			if info.VirtualSize != size {
				t.Errorf("qemu -f %s sees %d bytes, the raw disk has %d", qf, info.VirtualSize, size)
			}
			if b, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", qf, raw, out).CombinedOutput(); err != nil {
				t.Errorf("qemu-img compare: %v: %s", err, b)
			}
		})
	}
}

func checkGCETarball(t *testing.T, path string, want []byte) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	hdr, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	if hdr.Name != "disk.raw" || hdr.Typeflag != tar.TypeReg {
		t.Errorf("first entry %q (type %c), want the regular file disk.raw", hdr.Name, hdr.Typeflag)
	}
	got, err := io.ReadAll(tr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("disk.raw: %d bytes differing from the raw disk's %d", len(got), len(want))
	}
	if hdr, err := tr.Next(); err != io.EOF {
		t.Errorf("a second entry %v (%v): GCE wants disk.raw alone", hdr, err)
	}
}
