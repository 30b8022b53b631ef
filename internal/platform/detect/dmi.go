package detect

import (
	"strings"

	"github.com/etcd-appliance/appliance/internal/platform/aws"
	"github.com/etcd-appliance/appliance/internal/platform/azure"
	"github.com/etcd-appliance/appliance/internal/platform/digitalocean"
	"github.com/etcd-appliance/appliance/internal/platform/gcp"
	"github.com/etcd-appliance/appliance/internal/platform/hetzner"
	"github.com/etcd-appliance/appliance/internal/platform/openstack"
	"github.com/etcd-appliance/appliance/internal/platform/qemu"
)

// dmiRule matches one /sys/class/dmi/id value (trimmed); match also sees all the values.
type dmiRule struct {
	platform string
	key      string
	match    func(v string, dmi map[string]string) bool
}

func is(want string) func(string, map[string]string) bool {
	return func(v string, _ map[string]string) bool { return v == want }
}

// amazonXen is an EC2 Xen instance: Xen's DMI with Amazon's version string.
func amazonXen(v string, dmi map[string]string) bool {
	return strings.Contains(strings.ToLower(v), "amazon") && strings.TrimSpace(dmi["sys_vendor"]) == "Xen"
}

// dmiRules are checked in order; the first match wins. Sources for each value:
//   - AWS Nitro: sys_vendor and bios_vendor "Amazon EC2" — systemd src/basic/virt.c
//     dmi_vendor_table (added by Amazon for Graviton, which has no Xen/CPUID hint).
//   - AWS Xen (pre-Nitro): sys_vendor "Xen" with product_version like "4.2.amazon" or
//     "4.11.amazon" — DMI of Xen HVM instances (modalias dmi:bvnXen:bvr4.2.amazon:…:pvr4.2.amazon).
//   - GCP: product_name "Google Compute Engine" — cloud-init tools/ds-identify dscheck_GCE;
//     sys_vendor/bios_vendor "Google" — lshw/dmidecode on GCE, and Google's own Go clients
//     (cloud.google.com/go/compute/metadata) accept "Google" or "Google Compute Engine".
//   - Azure: chassis_asset_tag 7783-7084-3265-9085-8269-3286-77 — cloud-init ds-identify
//     is_azure_chassis and DataSourceAzure AZURE_CHASSIS_ASSET_TAG ("set static for all azure
//     instances").
//   - DigitalOcean: sys_vendor "DigitalOcean" — ds-identify dscheck_DigitalOcean.
//   - Hetzner: sys_vendor "Hetzner" — ds-identify dscheck_Hetzner.
//   - OpenStack: product_name "OpenStack Nova" or "OpenStack Compute" (RDO, LP #1675349), or
//     those as chassis_asset_tag (LP #1669875) — ds-identify dscheck_OpenStack; sys_vendor
//     "OpenStack Foundation" — nova/version.py NOVA_VENDOR, the SMBIOS manufacturer Nova's
//     libvirt driver writes. Distributions may rebrand these (e.g. "Red Hat"); such clouds need
//     etcd.platform=openstack or a config drive.
//   - QEMU: sys_vendor "QEMU" — systemd virt.c dmi_vendor_table; qemu's default SMBIOS type 1
//     manufacturer on q35/pc and arm virt. Last, as clouds built on qemu rebrand it.
var dmiRules = []dmiRule{
	{aws.Name, "sys_vendor", is("Amazon EC2")},
	{aws.Name, "bios_vendor", is("Amazon EC2")},
	{aws.Name, "product_version", amazonXen},
	{gcp.Name, "product_name", is("Google Compute Engine")},
	{gcp.Name, "sys_vendor", is("Google")},
	{gcp.Name, "bios_vendor", is("Google")},
	{azure.Name, "chassis_asset_tag", is("7783-7084-3265-9085-8269-3286-77")},
	{digitalocean.Name, "sys_vendor", is("DigitalOcean")},
	{hetzner.Name, "sys_vendor", is("Hetzner")},
	{openstack.Name, "product_name", is("OpenStack Nova")},
	{openstack.Name, "product_name", is("OpenStack Compute")},
	{openstack.Name, "chassis_asset_tag", is("OpenStack Nova")},
	{openstack.Name, "chassis_asset_tag", is("OpenStack Compute")},
	{openstack.Name, "sys_vendor", is("OpenStack Foundation")},
	{qemu.Name, "sys_vendor", is("QEMU")},
}
