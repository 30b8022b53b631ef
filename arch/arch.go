// Package arch is the one table of per-architecture facts: everything that differs between
// amd64, arm64 and ppc64le is here, so the build pipeline and the qemu harness never branch on
// an architecture name themselves.
package arch

import (
	"fmt"
	"sort"
	"strings"
)

// BootChain says how firmware finds the kernel on the disk image.
type BootChain string

const (
	// UEFI: a unified kernel image on the ESP at the removable-media path.
	UEFI BootChain = "uefi"
	// IEEE1275: Open Firmware (SLOF, petitboot-style) loads a GRUB core image from a PReP
	// partition; GRUB loads the kernel and initramfs from the FAT boot partition.
	IEEE1275 BootChain = "ieee1275"
)

// QEMUConfig says how a qemu guest of an arch receives its config (user-data), following
// Ignition's qemu conventions so existing tooling works.
type QEMUConfig string

const (
	// FwCfg: the fw_cfg item opt/com.coreos/config
	// (-fw_cfg name=opt/com.coreos/config,file=CONFIG), read by the guest from
	// /sys/firmware/qemu_fw_cfg once the qemu_fw_cfg module is loaded.
	FwCfg QEMUConfig = "fw_cfg"
	// BlockDev: a virtio-blk disk with serial "ignition" holding the config, NUL-padded
	// (-drive if=none,id=ign,format=raw,file=CONFIG,readonly=on -device virtio-blk-pci,drive=ign,serial=ignition);
	// for machines without fw_cfg (pseries).
	BlockDev QEMUConfig = "blockdev"
)

// QEMU holds what it takes to boot the arch under qemu TCG.
type QEMU struct {
	Binary  string   // qemu-system-*
	Machine string   // -M
	CPU     string   // -cpu
	Extra   []string // arguments every boot of this arch needs
	// FirmwareCode and FirmwareVars are pflash images (UEFI arches). Empty means the machine's
	// built-in firmware (SLOF on pseries).
	FirmwareCode string
	FirmwareVars string
	// FirmwareSize pads a pflash copy to the size the machine expects (0: as is).
	FirmwareSize int64
	// NIC is the virtio network device model for this machine.
	NIC string
	// Disk is the virtio block device model for this machine.
	Disk string
	// MachineOpts are extra comma-separated -machine properties for TCG boots.
	MachineOpts string
}

// Arch is one supported architecture.
type Arch struct {
	Name       string // user-facing name and GOARCH
	GOARCH     string
	DebianArch string
	// KernelPackage is the Debian meta package that pulls the current kernel. amd64 and arm64
	// take Debian's cloud flavour, as Debian's own cloud images do: its drivers are the
	// virtual and cloud machines' (virtio, NVMe, Xen, Hyper-V, ENA, gVNIC, VMware's paravirtual
	// devices), its amd64 kernel is LZ4-compressed (the generic one is xz: ~3 s to decompress
	// under qemu TCG) and its arm64 kernel 5.7 MiB smaller (docs/PERFORMANCE.md). It has no
	// AHCI (SATA), no emulated Intel NICs (e1000, e1000e) and no gpio-keys (arm64's power
	// button on device-tree machines): docs/platforms.md#hardware.
	KernelPackage string
	// KernelImage is the kernel's file name prefix in /boot ("vmlinuz" or "vmlinux").
	KernelImage string
	Console     string // the serial console device the kernel should log to
	Boot        BootChain
	// BootPackages are extracted into the build workspace only (never into the root tree). List
	// here, by hand, the dependencies apt locks for them that no root package needs: a root
	// program that turns out to need one fails the build (image/prune.go).
	BootPackages []string
	EFIStub      string // path of the systemd-boot stub inside the extracted BootPackages
	EFIBootPath  string // removable-media path of the UKI on the ESP
	GrubModDir   string // GRUB module directory inside the extracted BootPackages
	// RootPartType is the GPT partition type of the root filesystem (Discoverable Partitions
	// Specification), so tools can recognise the image's root without reading our code.
	RootPartType string
	// Modules are arch-specific kernel modules to keep in addition to the common set.
	Modules []string
	QEMU    QEMU
	// QEMUConfig is how a qemu guest of this arch gets its config (see FwCfg, BlockDev).
	QEMUConfig QEMUConfig
}

// Partition type GUIDs that are not per-arch.
const (
	ESPType  = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
	PRePType = "9E1A2D38-C612-4316-AA26-8B49521E5A8B"
	// LinuxDataType marks the ppc64le boot partition (kernel and initramfs for GRUB). Not
	// XBOOTLDR: it holds no boot loader entries, and systemd would try to automount it.
	LinuxDataType = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
)

var table = map[string]Arch{
	"amd64": {
		Name: "amd64", GOARCH: "amd64", DebianArch: "amd64",
		KernelPackage: "linux-image-cloud-amd64", KernelImage: "vmlinuz",
		Console:      "ttyS0,115200n8",
		Boot:         UEFI,
		BootPackages: []string{"systemd-boot-efi"},
		EFIStub:      "usr/lib/systemd/boot/efi/linuxx64.efi.stub",
		EFIBootPath:  "EFI/BOOT/BOOTX64.EFI",
		RootPartType: "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
		Modules:      []string{"ena", "hv_vmbus", "hv_storvsc", "hv_netvsc", "hv_utils", "xen-blkfront", "xen-netfront", "gve", "vmw_pvscsi", "vmxnet3"},
		QEMUConfig:   FwCfg,
		QEMU: QEMU{
			// SMM is only needed for secure-boot firmware and costs time under TCG. ERMS and
			// FSRM off: with them the kernel, glibc and Go zero and copy memory with rep
			// stosb/movsb, which qemu 7.2's TCG runs a byte per iteration (17 % of a sampled
			// boot, docs/PERFORMANCE.md); without, a word or a vector at a time. A real CPU has no
			// such cost, so this only keeps the emulator's cost out of the tests and the bench.
			Binary: "qemu-system-x86_64", Machine: "q35", CPU: "max,erms=off,fsrm=off", MachineOpts: "smm=off",
			FirmwareCode: "/usr/share/OVMF/OVMF_CODE_4M.fd",
			FirmwareVars: "/usr/share/OVMF/OVMF_VARS_4M.fd",
			NIC:          "virtio-net-pci", Disk: "virtio-blk-pci",
		},
	},
	"arm64": {
		Name: "arm64", GOARCH: "arm64", DebianArch: "arm64",
		KernelPackage: "linux-image-cloud-arm64", KernelImage: "vmlinuz",
		Console:      "ttyAMA0,115200n8",
		Boot:         UEFI,
		BootPackages: []string{"systemd-boot-efi"},
		EFIStub:      "usr/lib/systemd/boot/efi/linuxaa64.efi.stub",
		EFIBootPath:  "EFI/BOOT/BOOTAA64.EFI",
		RootPartType: "B921B045-1DF0-41C3-AF44-4C6F280D3FAE",
		Modules:      []string{"ena", "gve", "xen-blkfront", "xen-netfront", "hv_vmbus", "hv_storvsc", "hv_netvsc", "hv_utils"},
		QEMUConfig:   FwCfg,
		QEMU: QEMU{
			// plain "max" enables the QARMA pointer-authentication algorithm, ~3x slower under TCG
			Binary: "qemu-system-aarch64", Machine: "virt", CPU: "max,pauth-impdef=on",
			FirmwareCode: "/usr/share/AAVMF/AAVMF_CODE.fd",
			FirmwareVars: "/usr/share/AAVMF/AAVMF_VARS.fd",
			FirmwareSize: 64 << 20,
			NIC:          "virtio-net-pci", Disk: "virtio-blk-pci",
		},
	},
	"ppc64le": {
		Name: "ppc64le", GOARCH: "ppc64le", DebianArch: "ppc64el",
		KernelPackage: "linux-image-powerpc64le", KernelImage: "vmlinux",
		Console: "hvc0",
		Boot:    IEEE1275,
		// GRUB's modules, and what grub-common's tools (unused: the core is made by the host's
		// grub-mkimage) depend on
		BootPackages: []string{"grub-ieee1275-bin", "grub-common", "gettext-base", "libbrotli1", "libfreetype6",
			"libfuse2", "libparted2", "libpng16-16"},
		GrubModDir:   "usr/lib/grub/powerpc-ieee1275",
		RootPartType: "C31C45E6-3F39-412E-80FB-4809C4980599",
		Modules:      []string{"ibmvscsi", "ibmveth"},
		// pseries has no fw_cfg device
		QEMUConfig: BlockDev,
		QEMU: QEMU{
			// -nodefaults: otherwise SLOF and GRUB print to a VGA device nobody reads
			Binary: "qemu-system-ppc64", Machine: "pseries", CPU: "",
			// TCG cannot emulate the Spectre mitigations the default caps ask for; without
			// these qemu warns on every start
			MachineOpts: "cap-cfpc=broken,cap-sbbc=broken,cap-ibs=broken,cap-ccf-assist=off",
			Extra:       []string{"-nodefaults"},
			NIC:         "virtio-net-pci", Disk: "virtio-blk-pci",
		},
	},
}

// Lookup returns the named arch or an error listing the supported ones.
func Lookup(name string) (Arch, error) {
	a, ok := table[name]
	if !ok {
		return Arch{}, fmt.Errorf("unknown architecture %q: use one of %s", name, strings.Join(Names(), ", "))
	}
	return a, nil
}

// Names lists the supported architectures in a stable order.
func Names() []string {
	names := make([]string, 0, len(table))
	for n := range table {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// All returns every supported arch, ordered by name.
func All() []Arch {
	var all []Arch
	for _, n := range Names() {
		all = append(all, table[n])
	}
	return all
}

// KernelCmdline is the arch's part of the kernel command line.
func (a Arch) KernelCmdline() string {
	return "console=" + a.Console
}
