// Package detect decides which platform a node runs on and fetches its metadata from there.
// Choose is pure (kernel command line, DMI strings, filesystem labels, device-tree model in;
// a platform name and the reason out); Reader gathers those facts from /proc, /sys and /dev;
// Env.Fetch calls the chosen provider.
package detect

import (
	"fmt"
	"slices"
	"strings"

	"github.com/etcd-appliance/appliance/internal/kcmdline"
	"github.com/etcd-appliance/appliance/internal/platform/aws"
	"github.com/etcd-appliance/appliance/internal/platform/azure"
	"github.com/etcd-appliance/appliance/internal/platform/digitalocean"
	"github.com/etcd-appliance/appliance/internal/platform/gcp"
	"github.com/etcd-appliance/appliance/internal/platform/hetzner"
	"github.com/etcd-appliance/appliance/internal/platform/metal"
	"github.com/etcd-appliance/appliance/internal/platform/nocloud"
	"github.com/etcd-appliance/appliance/internal/platform/openstack"
	"github.com/etcd-appliance/appliance/internal/platform/qemu"
)

// PlatformArg is the kernel argument that names the platform (set at build: imagebuild --platform).
const PlatformArg = "etcd.platform"

// Detect as the value of PlatformArg means "detect", the same as no PlatformArg.
const Detect = "detect"

// NoPlatform is the reason Choose gives when nothing matched.
const NoPlatform = "no platform recognised: the node forms a single-member cluster with no user-data; set etcd.platform= at build"

// Facts are what Choose looks at.
type Facts struct {
	Cmdline string
	// DMI holds /sys/class/dmi/id values by file name: sys_vendor, product_name,
	// product_version, chassis_asset_tag, bios_vendor, board_vendor.
	DMI map[string]string
	// Labels are the filesystem labels present (the names in /dev/disk/by-label).
	Labels []string
	// DeviceTreeModel is /proc/device-tree/model (ppc64le and other device-tree machines).
	DeviceTreeModel string
	// DeviceTreeCompatible is /proc/device-tree/compatible's strings (arm64 booted without
	// firmware has a device tree and no DMI).
	DeviceTreeCompatible []string
}

// DMIKeys are the /sys/class/dmi/id files Choose uses (all world-readable).
func DMIKeys() []string {
	return []string{"sys_vendor", "product_name", "product_version", "chassis_asset_tag", "bios_vendor", "board_vendor"}
}

// qemuVirtCompatible is the root compatible string of qemu's arm and riscv "virt" machines.
const qemuVirtCompatible = "linux,dummy-virt"

// Names are the platforms etcd.platform= accepts, in a stable order.
func Names() []string {
	return []string{qemu.Name, nocloud.Name, openstack.Name, aws.Name, gcp.Name, azure.Name, digitalocean.Name, hetzner.Name, metal.Name}
}

// Choose picks the platform from f, first match wins:
//  1. etcd.platform=P on the kernel command line (an unknown P is an error);
//  2. etcd.config.url= on the kernel command line: metal;
//  3. a filesystem labelled cidata/CIDATA: nocloud; config-2/CONFIG-2: openstack (config drive);
//  4. DMI strings (see dmiRules);
//  5. a device-tree model saying "emulated by qemu" (ppc64le pseries under qemu), or the
//     root compatible "linux,dummy-virt" (qemu's arm virt machine booted with -kernel, where
//     no firmware provides DMI): qemu;
//  6. nothing: "" with reason NoPlatform, which is not an error.
func Choose(f Facts) (platform, reason string, err error) {
	if p, ok := kcmdline.Get(f.Cmdline, PlatformArg); ok && p != Detect {
		if !slices.Contains(Names(), p) {
			return "", "", fmt.Errorf("unknown %s=%q on the kernel command line: use one of %s, or %s to detect (rebuild the image with imagebuild --platform)",
				PlatformArg, p, strings.Join(Names(), ", "), Detect)
		}
		return p, fmt.Sprintf("%s=%s on the kernel command line", PlatformArg, p), nil
	}
	if _, ok := kcmdline.Get(f.Cmdline, metal.KernelArg); ok {
		return metal.Name, metal.KernelArg + "= on the kernel command line", nil
	}
	if l, ok := firstLabel(f.Labels, nocloud.SeedLabels); ok {
		return nocloud.Name, fmt.Sprintf("a filesystem labelled %s (NoCloud seed)", l), nil
	}
	if l, ok := firstLabel(f.Labels, openstack.ConfigDriveLabels); ok {
		return openstack.Name, fmt.Sprintf("a filesystem labelled %s (OpenStack config drive)", l), nil
	}
	for _, r := range dmiRules {
		v := strings.TrimSpace(f.DMI[r.key])
		if v != "" && r.match(v, f.DMI) {
			return r.platform, fmt.Sprintf("DMI %s %q", r.key, v), nil
		}
	}
	if m := strings.TrimRight(f.DeviceTreeModel, "\x00 \n"); strings.Contains(m, "emulated by qemu") {
		return qemu.Name, fmt.Sprintf("device-tree model %q", m), nil
	}
	if slices.Contains(f.DeviceTreeCompatible, qemuVirtCompatible) {
		return qemu.Name, fmt.Sprintf("device-tree compatible %q (qemu's virt machine)", qemuVirtCompatible), nil
	}
	return "", NoPlatform, nil
}

// firstLabel returns the first of wanted that is among present.
func firstLabel(present, wanted []string) (string, bool) {
	for _, w := range wanted {
		if slices.Contains(present, w) {
			return w, true
		}
	}
	return "", false
}
