package platformtest

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// A test in another package finds the fixtures too, also when built with -trimpath (no
// absolute source path), by way of the module root.
func TestLocate(t *testing.T) {
	want := Dir(t)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(wd, "..", "..", "networkd")
	trimmed := "github.com/etcd-appliance/appliance/internal/platform/platformtest/fixtures.go"
	for _, tc := range []struct{ file, wd string }{{"", other}, {trimmed, other}, {trimmed, wd}} {
		got, tried := locate(tc.file, tc.wd)
		if filepath.Clean(got) != filepath.Clean(want) {
			t.Errorf("locate(%q, %q) = %q (tried %q), want %q", tc.file, tc.wd, got, tried, want)
		}
	}
	if got, tried := locate("", t.TempDir()); got != "" || len(tried) == 0 {
		t.Errorf("outside the module: %q, tried %q", got, tried)
	}
}

// Every document has its source in the README's table and every row names a document that
// is there: the provenance stays complete.
func TestProvenance(t *testing.T) {
	dir := Dir(t)
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		rel = filepath.ToSlash(rel)
		if rel != "README.md" && !strings.HasPrefix(rel, "LICENSES/") {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	listed := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cells := strings.Split(sc.Text(), "|")
		if len(cells) != 5 || cells[1] == " file " || strings.HasPrefix(cells[1], "---") {
			continue
		}
		listed[strings.TrimSpace(cells[1])] = strings.TrimSpace(cells[2])
	}
	sort.Strings(files)
	for _, rel := range files {
		from, ok := listed[rel]
		switch {
		case !ok:
			t.Errorf("%s has no row in README.md", rel)
		case from != "coreos/afterburn" && from != "siderolabs/talos":
			t.Errorf("%s: from %q, whose license README.md does not name", rel, from)
		}
		delete(listed, rel)
	}
	for rel := range listed {
		t.Errorf("README.md lists %s, which is not there", rel)
	}
	for _, l := range []string{"Apache-2.0", "MPL-2.0"} {
		if _, err := os.Stat(filepath.Join(dir, "LICENSES", l)); err != nil {
			t.Error(err)
		}
	}
}
