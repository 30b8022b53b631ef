package image

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/etcd-appliance/appliance/arch"
)

func TestLineOf(t *testing.T) {
	for _, tc := range []struct{ version, line, err string }{
		{"v3.5.36", "v3.5", ""},
		{"v3.6.16", "v3.6", ""},
		{"v3.7.3", "v3.7", ""},
		{"v3.4.37", "", "not a supported etcd line; supported: v3.5, v3.6, v3.7"},
		{"3.7.3", "", `want a release such as v3.7.3`},
		{"v3.7", "", `want a release such as v3.7.3`},
		{"v3.7.0-rc.0", "", `want a release such as v3.7.3`},
	} {
		e, err := lineOf(tc.version)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("lineOf(%s): %v, want an error with %q", tc.version, err, tc.err)
			}
			continue
		}
		if err != nil || e.Line != tc.line {
			t.Errorf("lineOf(%s) = %s, %v, want %s", tc.version, e.Line, err, tc.line)
		}
	}
}

// TestEtcdLinesBuild builds every supported line's pinned release from etcdsrc, as the image
// build does, and runs the amd64 binary as etcd and etcdutl: the version it reports is the
// pin. make test builds amd64 (the images build the default line for every arch);
// QEMU_TESTS_LONG=1 (make test-long) builds every arch.
func TestEtcdLinesBuild(t *testing.T) {
	src, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	pins, err := PinnedEtcdVersions(src)
	if err != nil {
		t.Fatal(err)
	}
	arches := arch.All()
	if os.Getenv("QEMU_TESTS_LONG") != "1" {
		amd64, err := arch.Lookup("amd64")
		if err != nil {
			t.Fatal(err)
		}
		arches = []arch.Arch{amd64}
	}
	for _, v := range pins {
		for _, a := range arches {
			t.Run(v+"/"+a.Name, func(t *testing.T) {
				bin := t.TempDir()
				links, err := BuildEtcd(t.Context(), src, v, a.GOARCH, bin, t.TempDir())
				if err != nil {
					t.Fatal(err)
				}
				line, err := lineOf(v)
				if err != nil {
					t.Fatal(err)
				}
				if got := slices.Contains(links, "firstboot"); got != line.Firstboot {
					t.Errorf("links %q: firstboot linked in %v, want %v", links, got, line.Firstboot)
				}
				if a.GOARCH != "amd64" {
					return
				}
				etcd := filepath.Join(bin, "etcd")
				out, err := exec.Command(etcd, "--version").CombinedOutput()
				if want := "etcd Version: " + strings.TrimPrefix(v, "v") + "\n"; err != nil || !strings.Contains(string(out), want) {
					t.Errorf("etcd --version: %v\n%s\nwant %q", err, out, want)
				}
				// etcdutl by its link name, with our hashkv on every line
				util := filepath.Join(bin, "etcdutl")
				if err := os.Symlink(etcd, util); err != nil {
					t.Fatal(err)
				}
				if out, err := exec.Command(util, "hashkv", "--help").CombinedOutput(); err != nil || !strings.Contains(string(out), "etcdutl hashkv <filename>") {
					t.Errorf("etcdutl hashkv --help: %v\n%s", err, out)
				}
				if !line.Firstboot {
					return
				}
				// firstboot by its link name: its usage, on standard error with exit status 2
				fb := filepath.Join(bin, "firstboot")
				if err := os.Symlink(etcd, fb); err != nil {
					t.Fatal(err)
				}
				out, err = exec.Command(fb).CombinedOutput()
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.HasPrefix(string(out), "usage: firstboot COMMAND") {
					t.Errorf("firstboot: %v\n%s", err, out)
				}
			})
		}
	}
}

func TestEtcdModulesIn(t *testing.T) {
	src, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range etcdLines {
		pinned, err := pinnedIn(src, e)
		if err != nil {
			t.Fatal(err)
		}
		mods, err := etcdModulesIn(filepath.Join(src, "etcdsrc", e.Mod), pinned)
		if err != nil {
			t.Fatal(err)
		}
		// every etcd module the line requires moves with a patch change, api (the version
		// etcd reports) above all
		for _, m := range []string{"go.etcd.io/etcd/server/v3", "go.etcd.io/etcd/api/v3", "go.etcd.io/etcd/client/v3", "go.etcd.io/etcd/pkg/v3"} {
			if !slices.Contains(mods, m) {
				t.Errorf("%s: %v lacks %s", e.Line, mods, m)
			}
		}
		if e.Line == "v3.5" && !slices.Contains(mods, "go.etcd.io/etcd/client/v2") {
			t.Errorf("v3.5: %v lacks client/v2 (numbered v2.305.N)", mods)
		}
	}
	if got := sameRelease("go.etcd.io/etcd/client/v2", "v3.5.26"); got != "v2.305.26" {
		t.Errorf("client/v2 of v3.5.26 = %s", got)
	}
}

// TestEtcdsrcTidy: etcdsrc/go.mod requires this repository's module (firstboot.go), so a change
// to the root go.mod needs `go mod tidy` in etcdsrc too. Without it the v3.7 build fails under
// -mod=readonly with a module error that does not say why.
func TestEtcdsrcTidy(t *testing.T) {
	cmd := exec.Command("go", "mod", "tidy", "-diff")
	cmd.Dir = filepath.Join("..", "etcdsrc")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("etcdsrc/go.mod is not tidy with the repository's go.mod (%v): run 'cd etcdsrc && go mod tidy'\n%s", err, out)
	}
}
