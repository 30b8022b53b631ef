package qemutests

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestUnpackGCE: the disk.raw the VM tests boot from a GCE tarball has the tarball's bytes,
// takes no room for its zeros, and a tarball GCE's import would refuse is refused here too.
func TestUnpackGCE(t *testing.T) {
	const size = 1 << 30
	dir := t.TempDir()
	type entry struct {
		name string
		size int64
	}
	// every entry holds data at its start and middle, zeros elsewhere
	write := func(name string, entries ...entry) string {
		path := filepath.Join(dir, name)
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed) // as the builder writes it
		if err != nil {
			t.Fatal(err)
		}
		tw := tar.NewWriter(zw)
		for _, e := range entries {
			n := e.size
			if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: n, Typeflag: tar.TypeReg, Format: tar.FormatGNU}); err != nil {
				t.Fatal(err)
			}
			body := io.MultiReader(strings.NewReader("GPT header"), io.LimitReader(zeros{}, n/2-10), strings.NewReader("root"), io.LimitReader(zeros{}, n-n/2-4))
			if _, err := io.Copy(tw, body); err != nil {
				t.Fatal(err)
			}
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}

	out := t.TempDir()
	raw, err := unpackGCE(write("good.tar.gz", entry{"disk.raw", size}), out)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != size {
		t.Errorf("disk.raw is %d bytes, want %d", st.Size(), size)
	}
	if blocks := st.Sys().(*syscall.Stat_t).Blocks * 512; blocks > 1<<20 {
		t.Errorf("disk.raw takes %d bytes on disk, want its zeros left sparse", blocks)
	}
	for off, want := range map[int64]string{0: "GPT header", size / 2: "root"} {
		got := make([]byte, len(want))
		if _, err := f.ReadAt(got, off); err != nil || string(got) != want {
			t.Errorf("at %d: %q (%v), want %q", off, got, err, want)
		}
	}

	for name, tc := range map[string]struct {
		entries []entry
		want    string
	}{
		"other name":   {[]entry{{"image.raw", 1 << 20}}, "GCE wants the regular file disk.raw"},
		"partial GiB":  {[]entry{{"disk.raw", 1 << 20}}, "GCE wants a whole number of GiB"},
		"second entry": {[]entry{{"disk.raw", size}, {"extra", 1 << 20}}, "GCE wants disk.raw alone"},
	} {
		if _, err := unpackGCE(write(strings.ReplaceAll(name, " ", "-")+".tar.gz", tc.entries...), t.TempDir()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, tc.want)
		}
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
