package nocloud

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/etcd-appliance/appliance/internal/platform"
	"github.com/etcd-appliance/appliance/internal/platform/platformtest"
)

func route(to, via string) platform.Route {
	return platform.Route{To: netip.MustParsePrefix(to), Via: netip.MustParseAddr(via)}
}

// dhcpWithStaticGateways is what both KubeVirt fixtures (v1 and v2) say: eth0 on DHCPv4 and
// DHCPv6, default routes for both families and Google's resolvers, given statically.
var dhcpWithStaticGateways = &platform.Network{
	Interfaces: []platform.Interface{{
		Name: "eth0", DHCP4: true, DHCP6: true,
		Routes: []platform.Route{route("0.0.0.0/0", "192.168.1.1"), route("::/0", "2001:db8::1")},
	}},
	Nameservers: platformtest.Addrs("8.8.8.8", "8.8.4.4"),
}

// TestGolden parses every captured seed in platformtest's testdata/metadata/nocloud and compares
// the whole result with what the documents say, written out by hand.
func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		dir  string
		want *platform.Metadata
	}{
		{"v1", &platform.Metadata{
			Platform:   Name,
			InstanceID: "test-dhcp-static-gw-dns-nocloud-v1",
			Hostname:   "test-dhcp-static-gw-dns-nocloud-v1",
			Network:    dhcpWithStaticGateways,
		}},
		{"v2", &platform.Metadata{
			Platform:   Name,
			InstanceID: "test-dhcp-static-gw-dns-nocloud-v2",
			Hostname:   "test-dhcp-static-gw-dns-nocloud-v2",
			Network:    dhcpWithStaticGateways,
		}},
		{"v1-pnap", &platform.Metadata{ // two NICs in an LACP bond, two VLANs on it
			Platform:  Name,
			Addresses: platformtest.Addrs("1.2.3.4", "10.0.0.11"),
			Network: &platform.Network{
				Interfaces: []platform.Interface{
					{Name: "eno1np0", MAC: platformtest.MustMAC("3c:ec:ef:e0:45:28"), MTU: 9000},
					{Name: "eno2np1", MAC: platformtest.MustMAC("3c:ec:ef:e0:45:29"), MTU: 9000},
					{Name: "bond0", MAC: platformtest.MustMAC("3c:ec:ef:e0:45:28"), MTU: 9000, Bond: []string{"eno1np0", "eno2np1"}, BondMode: "802.3ad"},
					{Name: "bond0.2", MTU: 9000, VLAN: 2, VLANLink: "bond0", Addresses: platformtest.Prefixes("1.2.3.4/29"),
						Routes: []platform.Route{route("0.0.0.0/0", "1.2.3.5")}},
					{Name: "bond0.4", MTU: 9000, VLAN: 4, VLANLink: "bond0", Addresses: platformtest.Prefixes("10.0.0.11/24")},
				},
				Nameservers: platformtest.Addrs("8.8.8.8", "8.8.4.4"),
			},
		}},
		{"v2-bonds", &platform.Metadata{ // four NICs matched by MAC (mixed case), two bonds
			Platform:  Name,
			Addresses: platformtest.Addrs("10.26.98.92", "188.42.48.188"),
			Network: &platform.Network{
				Interfaces: []platform.Interface{
					{Name: "int0", MAC: platformtest.MustMAC("68:05:ca:b8:f1:f8")},
					{Name: "int1", MAC: platformtest.MustMAC("68:05:ca:b8:f1:f9")},
					{Name: "ext0", MAC: platformtest.MustMAC("3c:ec:ef:e0:45:28")},
					{Name: "ext1", MAC: platformtest.MustMAC("3c:ec:ef:e0:45:29")},
					{Name: "aggi", Bond: []string{"int0", "int1"}, BondMode: "802.3ad", Addresses: platformtest.Prefixes("10.26.98.92/29"),
						Routes: []platform.Route{
							route("10.0.0.0/8", "10.26.98.91"),
							route("192.168.0.0/16", "10.26.98.91"),
							route("188.42.208.0/21", "10.26.98.91"),
						}},
					{Name: "agge", Bond: []string{"ext0", "ext1"}, BondMode: "802.3ad", Addresses: platformtest.Prefixes("188.42.48.188/29"),
						Routes: []platform.Route{route("0.0.0.0/0", "188.42.48.187")}},
				},
			},
		}},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			dir := filepath.Join(platformtest.Dir(t), "nocloud", tc.dir)
			var got *platform.Metadata
			var err error
			if _, statErr := os.Stat(filepath.Join(dir, "meta-data")); statErr == nil {
				got, err = FromDir(os.DirFS(dir)) // a whole seed: through the file reading too
			} else {
				got, err = Parse(nil, nil, platformtest.Read(t, "nocloud/"+tc.dir+"/network-config"))
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n%s\nwant\n%s", dump(got), dump(tc.want))
			}
		})
	}
}

// dump prints what reflect.DeepEqual compares, readably (MACs as text).
func dump(md *platform.Metadata) string {
	var b strings.Builder
	b.WriteString(fmtValue(*md))
	if md.Network != nil {
		for _, ifc := range md.Network.Interfaces {
			b.WriteString("\n  " + fmtValue(ifc) + " mac=" + ifc.MAC.String())
		}
		b.WriteString("\n  nameservers=" + fmtValue(md.Network.Nameservers) + " search=" + fmtValue(md.Network.SearchDomains) + " routes=" + fmtValue(md.Network.Routes))
	}
	return b.String()
}

func fmtValue(v any) string { return fmt.Sprintf("%+v", v) }

func TestMetaData(t *testing.T) {
	const key1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOne one@example"
	const key2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITwo two@example"
	for _, tc := range []struct {
		name, doc string
		want      platform.Metadata
	}{
		{"empty", "", platform.Metadata{Platform: Name}},
		{"keys as list", "instance-id: i-1\nlocal-hostname: node-a\npublic-keys:\n  - " + key1 + "\n  - " + key2 + "\n",
			platform.Metadata{Platform: Name, InstanceID: "i-1", Hostname: "node-a", SSHKeys: []string{key1, key2}}},
		{"keys as map", "instance-id: i-1\npublic-keys:\n  zz: " + key2 + "\n  aa: [\"" + key1 + "\"]\n",
			platform.Metadata{Platform: Name, InstanceID: "i-1", SSHKeys: []string{key1, key2}}},
		{"keys as ec2 map", "public-keys:\n  0:\n    openssh-key: " + key1 + "\n  1:\n    openssh-key: " + key1 + "\n",
			platform.Metadata{Platform: Name, SSHKeys: []string{key1}}},
		{"keys as one string", "public-keys: |\n  " + key1 + "\n  # a comment\n\n  " + key2 + "\n",
			platform.Metadata{Platform: Name, SSHKeys: []string{key1, key2}}},
		{"hostname fallback, legacy network-interfaces ignored",
			"instance-id: 42\nhostname: node-b\nnetwork-interfaces: |\n  auto eth0\n  iface eth0 inet static\n    address 192.0.2.9\n",
			platform.Metadata{Platform: Name, InstanceID: "42", Hostname: "node-b"}},
		{"json", `{"instance-id": "i-2", "local-hostname": "node-c"}`,
			platform.Metadata{Platform: Name, InstanceID: "i-2", Hostname: "node-c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(nil, []byte(tc.doc), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("got %+v\nwant %+v", *got, tc.want)
			}
		})
	}
}
