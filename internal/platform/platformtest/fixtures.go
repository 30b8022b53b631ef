// Package platformtest finds the captured cloud metadata documents the providers' golden
// tests parse. They live in the shared folder beside the repository (shared/fixtures/metadata),
// not in it: they are other projects' data under their own licenses.
package platformtest

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the metadata fixtures directory: $ETCD_APPLIANCE_FIXTURES, else the nearest
// shared/fixtures/metadata above the working directory. Under CI the fixtures must exist;
// elsewhere a missing folder skips the test.
func Dir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("ETCD_APPLIANCE_FIXTURES"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		cand := filepath.Join(d, "shared", "fixtures", "metadata")
		if st, err := os.Stat(cand); err == nil && st.IsDir() {
			return cand
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("no shared/fixtures/metadata above %s (set ETCD_APPLIANCE_FIXTURES)", wd)
	}
	t.Skipf("no shared/fixtures/metadata above %s (set ETCD_APPLIANCE_FIXTURES)", wd)
	return ""
}

// Read returns the fixture at rel (e.g. "nocloud/v2/network-config").
func Read(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Dir(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
