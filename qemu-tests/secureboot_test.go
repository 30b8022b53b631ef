package qemutests

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/etcd-appliance/appliance/arch"
	"github.com/etcd-appliance/appliance/internal/vm"
)

// Debian's ovmf package: a Secure Boot build of OVMF whose variable store has its snakeoil
// certificate enrolled as PK, KEK and db, and that certificate's key (encrypted PKCS#8,
// password "snakeoil").
const (
	snakeoilCode = "/usr/share/OVMF/OVMF_CODE_4M.snakeoil.fd"
	snakeoilVars = "/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd"
	snakeoilKey  = "/usr/share/ovmf/PkKek-1-snakeoil.key"
	snakeoilCert = "/usr/share/ovmf/PkKek-1-snakeoil.pem"
)

var (
	// firmwareDenied is OVMF refusing a boot option whose EFI binary fails the db check.
	firmwareDenied = regexp.MustCompile(`BdsDxe: failed to load Boot\d+ .*: Access Denied`)
	// secureBootOn is the kernel's EFI stub once the firmware started it with Secure Boot on.
	secureBootOn = regexp.MustCompile(`EFI stub: UEFI Secure Boot is enabled`)
)

// secureBootArch is amd64 under OVMF in Secure Boot mode: the snakeoil firmware needs SMM and
// a secure flash.
func secureBootArch(t *testing.T) (arch.Arch, []string) {
	t.Helper()
	for _, f := range []string{snakeoilCode, snakeoilVars, snakeoilKey, snakeoilCert} {
		if _, err := os.Stat(f); err != nil {
			missing(t, "%s: the Secure Boot test needs Debian's ovmf package (make host-deps)", f)
		}
	}
	a, err := arch.Lookup("amd64")
	if err != nil {
		t.Fatal(err)
	}
	a.QEMU.FirmwareCode, a.QEMU.FirmwareVars, a.QEMU.MachineOpts = snakeoilCode, snakeoilVars, "smm=on"
	return a, []string{"-global", "driver=cfi.pflash01,property=secure,value=on"}
}

// TestSecureBoot builds the amd64 image signed with Debian's snakeoil key and boots it under
// OVMF with Secure Boot on: the signed image boots to etcd healthy, the unsigned image of
// `make images` is refused by the firmware, and the signed image with one byte of its root
// partition changed is stopped by dm-verity in the initramfs, which powers off.
func TestSecureBoot(t *testing.T) {
	if !archSelected("amd64") {
		t.Skip("amd64 not in QEMU_TESTS_ARCHES")
	}
	t.Parallel()
	a, extra := secureBootArch(t)
	unsigned := loadImages(t)
	src, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(workDir(t), "db.key")
	if out, err := exec.Command("openssl", "pkcs8", "-in", snakeoilKey, "-passin", "pass:snakeoil", "-out", key).CombinedOutput(); err != nil {
		t.Fatalf("decrypting the snakeoil key: %v\n%s", err, out)
	}
	signed := buildImage(t, builder(t), src, unsigned.m.Version+".signed", "--signing-key", key, "--signing-cert", snakeoilCert)

	t.Run("unsigned refused", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), vmTimeout(t))
		defer cancel()
		img, format := unsigned.osDisk(t, "amd64", "qcow2")
		v := bootVM(t, vm.Config{Arch: a, ExtraArgs: extra, Disks: []vm.Disk{{Path: img, Format: format, ReadOnly: true}, dataDisk()}})
		if _, err := v.WaitConsole(ctx, firmwareDenied); err != nil {
			t.Fatal(err)
		}
		for _, l := range v.ConsoleTail(200) {
			if secureBootOn.MatchString(l) {
				t.Errorf("the unsigned image started: %q", l)
			}
		}
	})
	t.Run("signed boots", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), vmTimeout(t))
		defer cancel()
		img, format := signed.osDisk(t, "amd64", "qcow2")
		v := bootVM(t, vm.Config{Arch: a, ExtraArgs: extra, Disks: []vm.Disk{{Path: img, Format: format, ReadOnly: true}, dataDisk()}})
		if _, err := v.WaitConsole(ctx, secureBootOn); err != nil {
			t.Fatal(err)
		}
		waitBooted(ctx, t, v)
		if t.Failed() {
			return
		}
		if _, err := v.WaitConsole(ctx, singleHealthy); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("signed with its root altered stopped by verity", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), vmTimeout(t))
		defer cancel()
		img, format := signed.osDisk(t, "amd64", "qcow2")
		checkAlteredRootStops(ctx, t, vm.Config{Arch: a, ExtraArgs: extra}, alteredCopy(t, img, format))
	})
}
