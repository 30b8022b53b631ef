// Package platformtest holds the captured cloud metadata documents the providers' golden tests
// parse (testdata/metadata, with their provenance and licenses in its README.md) and helpers
// for those tests. The documents are in the repository, so a test that needs one never skips:
// a missing file fails it.
package platformtest

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// fixturesRel is the fixtures directory relative to the module root.
const fixturesRel = "internal/platform/platformtest/testdata/metadata"

// Dir returns the metadata fixtures directory, testdata/metadata beside this package's source,
// from whichever package's test calls it. It fails the test when the directory is not there.
func Dir(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	d, tried := locate(file, wd)
	if d == "" {
		t.Fatalf("metadata fixtures not found (tried %q); they are part of the repository at %s", tried, fixturesRel)
	}
	return d
}

// locate finds the fixtures from file, this source file's path as compiled (absolute unless
// built with -trimpath), else from the module root above wd, a test's working directory (its
// package's directory). It returns "" and the places it looked when neither has them.
func locate(file, wd string) (dir string, tried []string) {
	if filepath.IsAbs(file) {
		d := filepath.Join(filepath.Dir(file), "testdata", "metadata")
		if isDir(d) {
			return d, nil
		}
		tried = append(tried, d)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			cand := filepath.Join(d, filepath.FromSlash(fixturesRel))
			if isDir(cand) {
				return cand, nil
			}
			if len(tried) > 0 && tried[0] == cand {
				return "", tried // the same place as from the source path
			}
			return "", append(tried, cand)
		}
		if filepath.Dir(d) == d {
			return "", append(tried, "no go.mod above "+wd)
		}
	}
}

// Read returns the fixture at rel (e.g. "nocloud/v2/network-config"), failing the test when
// it cannot be read.
func Read(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Dir(t), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}
