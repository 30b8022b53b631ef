package qemutests

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/etcd-appliance/appliance/internal/vm"
)

// Console lines of the initramfs when a partition with the root's PARTUUID fails dm-verity.
var (
	verityRefused = regexp.MustCompile(`initramfs: OS DISK FAILED VERIFICATION: (/dev/\S+) has the root partition's PARTUUID`)
	verityFatal   = regexp.MustCompile(`initramfs: FATAL: OS disk failed verification`)
	verifiedRoot  = regexp.MustCompile(`initramfs: root is (/dev/\S+), verified as`)
)

// alteredCopy writes a raw copy of the image src (qemu format) with one byte flipped in its
// root partition's squashfs: the same GPT and PARTUUIDs, different content.
func alteredCopy(t *testing.T, src, format string) string {
	t.Helper()
	dst := filepath.Join(workDir(t), "altered.raw")
	if out, err := exec.Command("qemu-img", "convert", "-f", format, "-O", "raw", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("copying %s: %v\n%s", src, err, out)
	}
	out, err := exec.Command("sgdisk", "-p", dst).CombinedOutput()
	if err != nil {
		t.Fatalf("sgdisk -p %s: %v\n%s", dst, err, out)
	}
	var start, end int64 = -1, -1
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 7 && f[len(f)-1] == "root" {
			start, _ = strconv.ParseInt(f[1], 10, 64)
			end, _ = strconv.ParseInt(f[2], 10, 64)
		}
	}
	if start <= 0 || end <= start {
		t.Fatalf("no root partition in sgdisk -p %s:\n%s", dst, out)
	}
	f, err := os.OpenFile(dst, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// a quarter into the partition: inside the squashfs, away from its superblock, so only
	// a check of every block finds it
	off := (start + (end-start)/4) * 512
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x80
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("altered copy of %s: byte %d flipped (root partition sectors %d-%d)", filepath.Base(src), off, start, end)
	return dst
}

// checkAlteredRootStops boots the altered copy alone: the initramfs refuses it with a console
// line and powers the machine off (qemu exits: no reboot loop, no hang).
func checkAlteredRootStops(ctx context.Context, t *testing.T, cfg vm.Config, altered string) {
	t.Helper()
	cfg.Disks = []vm.Disk{{Path: altered, Format: "raw", Snapshot: true}, dataDisk()}
	v := bootVM(t, cfg)
	if _, err := v.WaitConsole(ctx, verityFatal); err != nil {
		t.Fatalf("altered root partition: %v", err)
	}
	select {
	case <-v.Done():
	case <-ctx.Done():
		t.Fatalf("altered root partition: the machine did not power off after refusing it: %v", ctx.Err())
	}
	for _, l := range v.ConsoleTail(400) {
		if strings.Contains(l, "mounted /dev/") || strings.Contains(l, "systemd[1]") {
			t.Errorf("altered root partition: booted on after the refusal: %q", l)
		}
	}
}

// checkCopyRefused checks, on a node booted with an altered copy of its OS disk attached
// first, that the copy was refused and the root came from the genuine disk.
func checkCopyRefused(ctx context.Context, t *testing.T, v *vm.VM) {
	t.Helper()
	m, err := v.WaitConsole(ctx, verityRefused)
	if err != nil {
		t.Errorf("altered copy attached first: no refusal line: %v", err)
		return
	}
	r, err := v.WaitConsole(ctx, verifiedRoot)
	if err != nil {
		t.Errorf("no verified root line: %v", err)
		return
	}
	if m[1] != "/dev/vda2" || r[1] != "/dev/vdb2" {
		t.Errorf("refused %s and booted %s, want the copy /dev/vda2 refused and /dev/vdb2 booted", m[1], r[1])
	}
}
