package qemutests

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcd-appliance/appliance/image"
	"github.com/etcd-appliance/appliance/internal/testenv"
)

// manifest is the part of imagebuild's manifest.json the tests read.
type manifest struct {
	Version     string     `json:"version"`
	BuildID     string     `json:"build_id"`
	EtcdVersion string     `json:"etcd_version"`
	Artifacts   []artifact `json:"artifacts"`
}

type artifact struct {
	Arch   string `json:"arch"`
	Format string `json:"format"`
	Path   string `json:"path"` // relative to the image dir
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// images is a loaded image directory.
type images struct {
	dir string
	m   manifest
}

// missing ends a test for want of images, a tool or root: a failure under
// ETCD_APPLIANCE_STRICT=1 (or its older alias QEMU_TESTS_REQUIRED=1), else a skip.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("QEMU_TESTS_REQUIRED") == "1" {
		t.Fatalf("%s: required because QEMU_TESTS_REQUIRED=1", msg)
	}
	testenv.Missing(t, "%s", msg)
}

// loadImages reads manifest.json from IMAGE_DIR (default ../out).
func loadImages(t testing.TB) *images {
	t.Helper()
	return loadImagesFrom(t, envOr("IMAGE_DIR", filepath.Join("..", "out")))
}

// loadImagesFrom reads manifest.json from dir.
func loadImagesFrom(t testing.TB, dir string) *images {
	t.Helper()
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if errors.Is(err, os.ErrNotExist) {
		missing(t, "no manifest.json in %s: run `make images` or set IMAGE_DIR", dir)
	}
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s/manifest.json: %v", dir, err)
	}
	return &images{dir: dir, m: m}
}

// find returns the absolute path and format of the first of formats built for arch, or
// "" if none is listed. A listed artifact that is absent or has the wrong size fails the
// test: the build output is broken.
func (im *images) find(t testing.TB, archName string, formats ...string) (path, format string) {
	t.Helper()
	for _, f := range formats {
		for _, a := range im.m.Artifacts {
			if a.Arch != archName || a.Format != f {
				continue
			}
			p := filepath.Join(im.dir, a.Path)
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatalf("manifest lists %s: %v", a.Path, err)
			}
			if a.Size != 0 && fi.Size() != a.Size {
				t.Fatalf("%s: %d bytes, manifest says %d", p, fi.Size(), a.Size)
			}
			return p, f
		}
	}
	return "", ""
}

// need is find for a required artifact: missing() when it is not built.
func (im *images) need(t testing.TB, archName string, formats ...string) (path, format string) {
	t.Helper()
	p, f := im.find(t, archName, formats...)
	if p == "" {
		missing(t, "no %v image for %s in %s: run `make images` or set IMAGE_DIR", formats, archName, im.dir)
	}
	return p, f
}

// directBoot is need for the files of a direct kernel boot: kernel, initrd and the kernel
// command line the image was built with (read from its cmdline file).
func (im *images) directBoot(t testing.TB, archName string) (kernel, initrd, cmdline string) {
	t.Helper()
	kernel, _ = im.need(t, archName, "kernel")
	initrd, _ = im.need(t, archName, "initrd")
	cmdlinePath, _ := im.need(t, archName, "cmdline")
	b, err := os.ReadFile(cmdlinePath)
	if err != nil {
		t.Fatal(err)
	}
	return kernel, initrd, strings.TrimSpace(string(b))
}

// osDisk is need for the disk a VM boots: the path of the first of formats built for arch and
// qemu's name for its format (vm.Disk.Format). A gce tarball is unpacked first, as GCE's
// image import does: its disk.raw, in a work dir that lives as long as t.
func (im *images) osDisk(t testing.TB, archName string, formats ...string) (path, qemuFormat string) {
	t.Helper()
	p, f := im.need(t, archName, formats...)
	if f == "gce" {
		raw, err := unpackGCE(p, workDir(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("OS disk: disk.raw from %s", filepath.Base(p))
		return raw, "raw"
	}
	qf := image.QEMUFormat(f)
	if qf == "" {
		t.Fatalf("%s: qemu cannot boot the %s format", p, f)
	}
	t.Logf("OS disk: %s (qemu format %s)", filepath.Base(p), qf)
	return p, qf
}

// unpackGCE writes the disk.raw of a GCE image tarball into dir, sparse (runs of zeros are
// skipped, not written), and checks the tarball is what GCE's import takes: disk.raw alone,
// a regular file of whole GiB.
func unpackGCE(tarball, dir string) (string, error) {
	f, err := os.Open(tarball)
	if err != nil {
		return "", err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return "", fmt.Errorf("%s: %w", tarball, err)
	}
	tr := tar.NewReader(zr)
	hdr, err := tr.Next()
	if err != nil {
		return "", fmt.Errorf("%s: %w", tarball, err)
	}
	if hdr.Name != "disk.raw" || hdr.Typeflag != tar.TypeReg {
		return "", fmt.Errorf("%s: first entry %q (type %q), GCE wants the regular file disk.raw", tarball, hdr.Name, hdr.Typeflag)
	}
	if hdr.Size == 0 || hdr.Size%(1<<30) != 0 {
		return "", fmt.Errorf("%s: disk.raw is %d bytes, GCE wants a whole number of GiB", tarball, hdr.Size)
	}
	raw := filepath.Join(dir, "disk.raw")
	if err := writeSparse(raw, tr, hdr.Size); err != nil {
		return "", fmt.Errorf("%s: disk.raw: %w", tarball, err)
	}
	if hdr, err := tr.Next(); err != io.EOF {
		return "", fmt.Errorf("%s: an entry after disk.raw (%v, %v): GCE wants disk.raw alone", tarball, hdr, err)
	}
	return raw, nil
}

// writeSparse copies size bytes from r to a new file at path, seeking over zero blocks.
func writeSparse(path string, r io.Reader, size int64) error {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	defer out.Close()
	buf := make([]byte, 64<<10)
	zero := make([]byte, len(buf))
	for off := int64(0); off < size; {
		n, err := io.ReadFull(r, buf[:min(int64(len(buf)), size-off)])
		if err != nil {
			return fmt.Errorf("at byte %d: %w", off, err)
		}
		if bytes.Equal(buf[:n], zero[:n]) {
			_, err = out.Seek(int64(n), io.SeekCurrent)
		} else {
			_, err = out.Write(buf[:n])
		}
		if err != nil {
			return err
		}
		off += int64(n)
	}
	if err := out.Truncate(size); err != nil { // a disk that ends in zeros
		return err
	}
	return out.Close()
}
