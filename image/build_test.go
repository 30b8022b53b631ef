package image

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/etcd-appliance/appliance/arch"
)

// A stage that fails stops the build with one error naming the arch and the stage, after every
// arch's binaries compile has finished, and leaves no work directory behind.
func TestBuildFailsCleanly(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	src := t.TempDir() // no etcdsrc, no cmd: the binaries fail too, without running the compiler
	if err := os.WriteFile(LockPath(src), []byte("# nothing locked\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	_, err := Build(context.Background(), Options{
		SrcDir: src, OutDir: filepath.Join(t.TempDir(), "out"), CacheDir: t.TempDir(),
		Arches: arch.All(), Formats: []string{"raw"}, EtcdVersion: "v3.6.16", Version: "test",
		Progress: &out,
	})
	if err == nil {
		t.Fatal("Build succeeded with an empty package lock")
	}
	if !regexp.MustCompile(`^(\w+): packages: packages.lock has nothing for \w+: run 'make lock'$`).MatchString(err.Error()) {
		t.Errorf("error = %q", err)
	}
	for _, a := range arch.All() {
		for _, stage := range []string{"packages", "binaries"} {
			if !regexp.MustCompile(`(?m)^\[` + a.Name + `\] ` + stage + ` .* FAILED$`).Match(out.Bytes()) {
				t.Errorf("no failed %s stage for %s in the progress output:\n%s", stage, a.Name, out.String())
			}
		}
	}
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		if strings.HasPrefix(e.Name(), "imagebuild-") {
			t.Errorf("work directory %s left behind", e.Name())
		}
	}
}

func TestKernelCmdline(t *testing.T) {
	amd64, err := arch.Lookup("amd64")
	if err != nil {
		t.Fatal(err)
	}
	ppc, err := arch.Lookup("ppc64le")
	if err != nil {
		t.Fatal(err)
	}
	const verity = "etcd.verity=sha512:ab:6:cd"
	for _, tc := range []struct {
		name     string
		a        arch.Arch
		platform string
		want     string
	}{
		{"detected platform", amd64, "", "root=PARTUUID=R " + verity + " ro console=ttyS0,115200n8 cryptomgr.notests"},
		{"platform chosen at build", amd64, "aws", "root=PARTUUID=R " + verity + " ro console=ttyS0,115200n8 cryptomgr.notests etcd.platform=aws"},
		{"ppc64le's console", ppc, "", "root=PARTUUID=R " + verity + " ro console=hvc0 cryptomgr.notests"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := kernelCmdline("R", verity, tc.a, tc.platform); got != tc.want {
				t.Errorf("kernelCmdline = %q, want %q", got, tc.want)
			}
		})
	}
}
