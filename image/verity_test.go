package image

import (
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestAppendVerity checks the tree with veritysetup verify, the check dm-verity makes at
// read time: the untouched partition passes, one changed byte in the data or the tree fails,
// and the same input gives the same tree.
func TestAppendVerity(t *testing.T) {
	if _, err := exec.LookPath("veritysetup"); err != nil {
		t.Skip("veritysetup not installed (make host-deps installs cryptsetup-bin)")
	}
	dir := t.TempDir()
	data := make([]byte, 3*1024*1024+123) // not a whole number of blocks
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	salt := veritySalt("build/amd64")
	make1 := func(name string) (string, verity) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		v, err := appendVerity(context.Background(), p, salt)
		if err != nil {
			t.Fatal(err)
		}
		return p, v
	}
	file, v := make1("a")
	if v.DataBlocks != int64(len(data)+4095)/4096 || v.TreeBytes == 0 || v.Salt != salt {
		t.Fatalf("verity = %+v", v)
	}
	if want := "etcd.verity=sha512:" + v.RootHash + ":" + strconv.FormatInt(v.DataBlocks, 10) + ":" + salt; v.KernelArg() != want {
		t.Errorf("KernelArg = %q, want %q", v.KernelArg(), want)
	}
	again, v2 := make1("b")
	a, _ := os.ReadFile(file)
	b, _ := os.ReadFile(again)
	if v2 != v || string(a) != string(b) {
		t.Fatal("two runs over the same data differ")
	}

	verify := func(p string) (string, error) {
		out, err := exec.Command("veritysetup", "verify", "--no-superblock", "--hash=sha512", "--data-blocks="+strconv.FormatInt(v.DataBlocks, 10),
			"--hash-offset="+strconv.FormatInt(v.DataBlocks*4096, 10), "--salt="+v.Salt, p, p, v.RootHash).CombinedOutput()
		return string(out), err
	}
	if out, err := verify(file); err != nil {
		t.Fatalf("untouched partition fails verification: %v: %s", err, out)
	}
	for _, off := range []int64{0, 2 * 1024 * 1024, v.DataBlocks*4096 + 100} {
		t.Run("byte "+strconv.FormatInt(off, 10)+" changed", func(t *testing.T) {
			b := append([]byte(nil), a...)
			b[off] ^= 0x01
			p := filepath.Join(dir, "altered")
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := verify(p)
			if err == nil {
				t.Fatal("an altered partition passes verification")
			}
			if !strings.Contains(out, "failed") {
				t.Errorf("veritysetup said %q", out)
			}
		})
	}
}
