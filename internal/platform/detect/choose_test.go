package detect

import (
	"strings"
	"testing"
)

func TestChoose(t *testing.T) {
	const cmd = "BOOT_IMAGE=/vmlinuz root=PARTUUID=1234 console=ttyS0,115200n8 quiet"
	for _, tc := range []struct {
		name       string
		f          Facts
		want       string
		wantReason string // substring
	}{
		// 1. the kernel argument wins over everything else
		{"etcd.platform wins", Facts{Cmdline: cmd + " etcd.platform=gcp", DMI: map[string]string{"sys_vendor": "Amazon EC2"}, Labels: []string{"cidata"}}, "gcp", "etcd.platform=gcp"},
		{"etcd.platform quoted among others", Facts{Cmdline: `console=hvc0 "etcd.platform=qemu" etcd.config.url="https://h/c.yaml"`}, "qemu", "etcd.platform=qemu"},
		{"etcd.platform=metal", Facts{Cmdline: "etcd.platform=metal"}, "metal", "etcd.platform=metal"},
		{"etcd.platform=detect falls through", Facts{Cmdline: "etcd.platform=detect", DMI: map[string]string{"sys_vendor": "Hetzner"}}, "hetzner", "Hetzner"},
		// 2.
		{"config url means metal", Facts{Cmdline: cmd + ` etcd.config.url="https://cfg.example/etcd.yaml?checksum=sha256:00"`, DMI: map[string]string{"sys_vendor": "QEMU"}, Labels: []string{"config-2"}}, "metal", "etcd.config.url="},
		// 3.
		{"cidata", Facts{Cmdline: cmd, Labels: []string{"rootfs", "cidata"}, DMI: map[string]string{"sys_vendor": "QEMU"}}, "nocloud", "cidata"},
		{"CIDATA (vfat)", Facts{Labels: []string{"CIDATA"}}, "nocloud", "CIDATA"},
		{"config-2", Facts{Labels: []string{"config-2"}, DMI: map[string]string{"product_name": "OpenStack Nova"}}, "openstack", "config drive"},
		{"CONFIG-2", Facts{Labels: []string{"CONFIG-2"}}, "openstack", "CONFIG-2"},
		{"cidata before config-2", Facts{Labels: []string{"config-2", "cidata"}}, "nocloud", "cidata"},
		{"other labels ignored", Facts{Labels: []string{"etcd-data", "ESP"}}, "", NoPlatform},
		// 4. DMI
		{"aws nitro sys_vendor", Facts{DMI: map[string]string{"sys_vendor": "Amazon EC2", "product_name": "m6g.large"}}, "aws", `sys_vendor "Amazon EC2"`},
		{"aws nitro bios_vendor", Facts{DMI: map[string]string{"bios_vendor": "Amazon EC2"}}, "aws", "bios_vendor"},
		{"aws xen", Facts{DMI: map[string]string{"sys_vendor": "Xen", "product_name": "HVM domU", "product_version": "4.11.amazon"}}, "aws", "4.11.amazon"},
		{"plain xen is not aws", Facts{DMI: map[string]string{"sys_vendor": "Xen", "product_version": "4.17.1"}}, "", NoPlatform},
		{"amazon version without xen is not aws", Facts{DMI: map[string]string{"sys_vendor": "Acme", "product_version": "amazon"}}, "", NoPlatform},
		{"gcp product_name", Facts{DMI: map[string]string{"product_name": "Google Compute Engine"}}, "gcp", "Google Compute Engine"},
		{"gcp sys_vendor", Facts{DMI: map[string]string{"sys_vendor": "Google"}}, "gcp", `"Google"`},
		{"gcp bios_vendor", Facts{DMI: map[string]string{"bios_vendor": "Google"}}, "gcp", "bios_vendor"},
		{"azure", Facts{DMI: map[string]string{"sys_vendor": "Microsoft Corporation", "product_name": "Virtual Machine", "chassis_asset_tag": "7783-7084-3265-9085-8269-3286-77"}}, "azure", "chassis_asset_tag"},
		{"hyper-v is not azure", Facts{DMI: map[string]string{"sys_vendor": "Microsoft Corporation", "chassis_asset_tag": "0000-0000"}}, "", NoPlatform},
		{"digitalocean", Facts{DMI: map[string]string{"sys_vendor": "DigitalOcean", "product_name": "Droplet"}}, "digitalocean", "DigitalOcean"},
		{"hetzner", Facts{DMI: map[string]string{"sys_vendor": "Hetzner", "product_name": "vServer"}}, "hetzner", "Hetzner"},
		{"openstack nova", Facts{DMI: map[string]string{"sys_vendor": "OpenStack Foundation", "product_name": "OpenStack Nova"}}, "openstack", "OpenStack Nova"},
		{"openstack compute (RDO)", Facts{DMI: map[string]string{"sys_vendor": "Red Hat", "product_name": "OpenStack Compute"}}, "openstack", "OpenStack Compute"},
		{"openstack asset tag", Facts{DMI: map[string]string{"chassis_asset_tag": "OpenStack Nova"}}, "openstack", "chassis_asset_tag"},
		{"openstack foundation", Facts{DMI: map[string]string{"sys_vendor": "OpenStack Foundation", "product_name": "Custom"}}, "openstack", "OpenStack Foundation"},
		{"qemu", Facts{DMI: map[string]string{"sys_vendor": "QEMU", "product_name": "Standard PC (Q35 + ICH9, 2009)"}}, "qemu", `sys_vendor "QEMU"`},
		{"qemu with trailing newline", Facts{DMI: map[string]string{"sys_vendor": "QEMU\n"}}, "qemu", "QEMU"},
		{"cloud before qemu", Facts{DMI: map[string]string{"sys_vendor": "QEMU", "chassis_asset_tag": "7783-7084-3265-9085-8269-3286-77"}}, "azure", "chassis_asset_tag"},
		// 5.
		{"ppc64le pseries under qemu", Facts{DeviceTreeModel: "IBM pSeries (emulated by qemu)\x00"}, "qemu", "emulated by qemu"},
		{"ppc64le PowerVM", Facts{DeviceTreeModel: "IBM,9009-42A"}, "", NoPlatform},
		{"arm64 qemu virt, direct kernel boot", Facts{DeviceTreeCompatible: []string{"linux,dummy-virt"}}, "qemu", "qemu's virt machine"},
		{"arm64 board", Facts{DeviceTreeCompatible: []string{"raspberrypi,4-model-b", "brcm,bcm2711"}}, "", NoPlatform},
		// 6.
		{"nothing", Facts{Cmdline: cmd, DMI: map[string]string{"sys_vendor": "Dell Inc."}}, "", NoPlatform},
		{"empty", Facts{}, "", NoPlatform},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, reason, err := Choose(tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want || !strings.Contains(reason, tc.wantReason) {
				t.Errorf("Choose = %q (%s); want %q (…%s…)", got, reason, tc.want, tc.wantReason)
			}
		})
	}
}

func TestChooseUnknownPlatform(t *testing.T) {
	for _, cmdline := range []string{"etcd.platform=vmware", "etcd.platform=", "etcd.platform=AWS"} {
		_, _, err := Choose(Facts{Cmdline: "quiet " + cmdline, DMI: map[string]string{"sys_vendor": "QEMU"}})
		if err == nil {
			t.Fatalf("%s: no error", cmdline)
		}
		for _, name := range Names() {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("%s: error %q does not list %s", cmdline, err, name)
			}
		}
	}
}

func TestNamesAreTheDesignList(t *testing.T) {
	want := "qemu nocloud openstack aws gcp azure digitalocean hetzner metal"
	if got := strings.Join(Names(), " "); got != want {
		t.Errorf("Names = %s, want %s", got, want)
	}
}
