package qemutests

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

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
