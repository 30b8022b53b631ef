package openstack

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

func rt(to, via string) platform.Route {
	r := platform.Route{To: netip.MustParsePrefix(to)}
	if via != "" {
		r.Via = netip.MustParseAddr(via)
	}
	return r
}

// configDriveWant is what the captured config drive (KubeVirt's) says: eth0 by MAC on DHCPv4
// and DHCPv6, static default routes for both families, two resolvers.
var configDriveWant = &platform.Metadata{
	Platform:   Name,
	InstanceID: "b3f43d9c-9198-4cd4-ac9f-bed14960794b",
	Network: &platform.Network{
		Interfaces: []platform.Interface{{
			Name: "eth0", MAC: platformtest.MustMAC("06:aa:bb:cc:dd:00"), DHCP4: true, DHCP6: true,
			Routes: []platform.Route{rt("0.0.0.0/0", "192.168.1.1"), rt("::/0", "2001:db8::1")},
		}},
		Nameservers: platformtest.Addrs("8.8.8.8", "8.8.4.4"),
	},
}

// The one key of the metadata-service fixture, given both in public_keys and in keys.
const (
	fixtureKeyStart = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAACAQC/Zc+pyRoKWVS1CVx2soRe7Ia7RGkASpXZE495H2Xu"
	fixtureKeyEnd   = "/4HoVQlwWxRhLKji5NiJGMgYw== cardno:9_040_793"
)

// TestGolden parses the captured documents and compares the whole result with what they
// say, written out by hand.
func TestGolden(t *testing.T) {
	t.Run("config-drive", func(t *testing.T) {
		got, err := FromConfigDrive(os.DirFS(filepath.Join(platformtest.Dir(t), "openstack", "config-drive")))
		if err != nil {
			t.Fatal(err)
		}
		if got.UserData != nil {
			t.Errorf("UserData = %q, want nil (the drive has no user_data)", got.UserData)
		}
		if !reflect.DeepEqual(got, configDriveWant) {
			t.Errorf("got\n%s\nwant\n%s", dump(got), dump(configDriveWant))
		}
	})
	t.Run("metadata-service/2012-08-10", func(t *testing.T) {
		got, err := Parse(platformtest.Read(t, "openstack/metadata-service/2012-08-10/meta_data.json"), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		// One key (public_keys and keys hold the same), its trailing newline trimmed.
		if len(got.SSHKeys) != 1 || !strings.HasPrefix(got.SSHKeys[0], fixtureKeyStart) || !strings.HasSuffix(got.SSHKeys[0], fixtureKeyEnd) {
			t.Errorf("SSHKeys = %q, want one key %s…%s", got.SSHKeys, fixtureKeyStart, fixtureKeyEnd)
		}
		got.SSHKeys = nil
		want := &platform.Metadata{Platform: Name, InstanceID: "99dcf33b-6eb5-4acf-9abb-d81723e0c949", Hostname: "mule"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got\n%s\nwant\n%s", dump(got), dump(want))
		}
	})
}

func dump(md *platform.Metadata) string {
	s := fmt.Sprintf("%+v", *md)
	if md.Network != nil {
		for _, ifc := range md.Network.Interfaces {
			s += fmt.Sprintf("\n  %+v mac=%s", ifc, ifc.MAC)
		}
		s += fmt.Sprintf("\n  nameservers=%v", md.Network.Nameservers)
	}
	return s
}

// TestForms covers what the fixtures do not: static addresses with netmasks or CIDR,
// bonds and VLANs, per-network DNS, hostname from name, keys in both lists.
func TestForms(t *testing.T) {
	const meta = `{"uuid": "u-1", "name": "node-a", "public_keys": {"b": "ssh-ed25519 BBB b\n", "a": "ssh-ed25519 AAA a"},
		"keys": [{"name": "a", "type": "ssh", "data": "ssh-ed25519 AAA a\n"}, {"name": "c", "type": "x509", "data": "-----BEGIN CERTIFICATE-----"},
		         {"name": "d", "type": "ssh", "data": "ssh-ed25519 DDD d"}]}`
	const netData = `{
  "links": [
    {"id": "vlan0", "type": "vlan", "vlan_link": "bond0", "vlan_id": 101, "vlan_mac_address": "fa:16:3e:00:00:03", "mtu": null},
    {"id": "tap-1", "type": "phy", "ethernet_mac_address": "FA:16:3E:00:00:01", "mtu": 9000},
    {"id": "tap-2", "type": "ovs", "ethernet_mac_address": "fa:16:3e:00:00:02", "mtu": 9000},
    {"id": "bond0", "name": "bond0", "type": "bond", "bond_links": ["tap-1", "tap-2"], "bond_mode": "802.3ad",
     "ethernet_mac_address": "fa:16:3e:00:00:01", "bond_miimon": 100}
  ],
  "networks": [
    {"id": "n4", "type": "ipv4", "link": "vlan0", "ip_address": "192.0.2.10", "netmask": "255.255.255.0",
     "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "192.0.2.1"},
                {"network": "198.51.100.0", "netmask": "255.255.255.0", "gateway": "192.0.2.254"}],
     "services": [{"type": "dns", "address": "192.0.2.53"}]},
    {"id": "n6", "type": "ipv6", "link": "vlan0", "ip_address": "2001:db8::10", "netmask": "ffff:ffff:ffff:ffff::",
     "routes": [{"network": "::", "netmask": "::", "gateway": "2001:db8::1"}]},
    {"id": "n6b", "type": "ipv6", "link": "bond0", "ip_address": "2001:db8:1::10/64"},
    {"id": "n6c", "type": "ipv6_slaac", "link": "tap-1"}
  ],
  "services": [{"type": "dns", "address": "192.0.2.53"}, {"type": "ntp", "address": "ntp.example"}, {"type": "dns", "address": "2001:db8::53"}]
}`
	got, err := Parse([]byte(meta), []byte(netData), []byte("version: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := &platform.Metadata{
		Platform: Name, InstanceID: "u-1", Hostname: "node-a",
		SSHKeys:   []string{"ssh-ed25519 AAA a", "ssh-ed25519 BBB b", "ssh-ed25519 DDD d"},
		UserData:  []byte("version: 1\n"),
		Addresses: platformtest.Addrs("192.0.2.10", "2001:db8::10", "2001:db8:1::10"),
		Network: &platform.Network{
			Interfaces: []platform.Interface{
				{Name: "vlan0", MAC: platformtest.MustMAC("fa:16:3e:00:00:03"), VLAN: 101, VLANLink: "bond0",
					Addresses: platformtest.Prefixes("192.0.2.10/24", "2001:db8::10/64"),
					Routes: []platform.Route{
						rt("0.0.0.0/0", "192.0.2.1"), rt("198.51.100.0/24", "192.0.2.254"), rt("::/0", "2001:db8::1"),
					}},
				{Name: "tap-1", MAC: platformtest.MustMAC("fa:16:3e:00:00:01"), MTU: 9000, DHCP6: true},
				{Name: "tap-2", MAC: platformtest.MustMAC("fa:16:3e:00:00:02"), MTU: 9000},
				{Name: "bond0", MAC: platformtest.MustMAC("fa:16:3e:00:00:01"), Bond: []string{"tap-1", "tap-2"}, BondMode: "802.3ad",
					Addresses: platformtest.Prefixes("2001:db8:1::10/64")},
			},
			Nameservers: platformtest.Addrs("192.0.2.53", "2001:db8::53"),
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", dump(got), dump(want))
	}
}

func TestEmptyNetworkData(t *testing.T) {
	for _, doc := range []string{"", `{}`, `{"links": [], "networks": [], "services": []}`} {
		md, err := Parse([]byte(`{"uuid": "u"}`), []byte(doc), nil)
		if err != nil || md.Network != nil || md.UserData != nil {
			t.Errorf("network_data %q: %+v, %v; want no Network, no UserData", doc, md, err)
		}
	}
}

// TestErrors: each bad document gives one error naming the document and the field.
func TestErrors(t *testing.T) {
	const phy = `{"id": "eth0", "type": "phy", "ethernet_mac_address": "fa:16:3e:00:00:01"}`
	nd := func(links, networks string) string {
		return `{"links": [` + links + `], "networks": [` + networks + `]}`
	}
	for _, tc := range []struct {
		name, meta, net, want string
	}{
		{"meta not JSON", `{"uuid": `, "", "meta_data.json: unexpected end of JSON input"},
		{"meta syntax", `{"uuid" "x"}`, "", "meta_data.json: invalid character '\"' after object key at byte 9"},
		{"meta wrong type", `{"uuid": 7}`, "", "meta_data.json: uuid: a JSON number where a string belongs"},
		{"meta a list", `[]`, "", "meta_data.json: a JSON array where an object belongs"},
		{"keys wrong type", `{"public_keys": ["k"]}`, "", "meta_data.json: public_keys: a JSON array where an object belongs"},
		{"empty meta", ``, "", "meta_data.json: unexpected end of JSON input"},
		{"bad IP", "{}", nd(phy, `{"type": "ipv4", "link": "eth0", "ip_address": "10.0.0.300", "netmask": "255.255.255.0"}`),
			`network_data.json: networks[0].ip_address: "10.0.0.300" is not an IP address`},
		{"bad netmask", "{}", nd(phy, `{"type": "ipv4", "link": "eth0", "ip_address": "10.0.0.3", "netmask": "255.255.0.255"}`),
			`network_data.json: networks[0].netmask: netmask 255.255.0.255 is not contiguous`},
		{"prefix out of range", "{}", nd(phy, `{"type": "ipv6", "link": "eth0", "ip_address": "2001:db8::1/129"}`),
			`network_data.json: networks[0].ip_address: "2001:db8::1/129": prefix length "129" is out of range (0-128)`},
		{"no netmask", "{}", nd(phy, `{"type": "ipv4", "link": "eth0", "ip_address": "10.0.0.3"}`),
			`network_data.json: networks[0].ip_address: "10.0.0.3" has no prefix length: write it as 10.0.0.3/N or give networks[0].netmask`},
		{"family", "{}", nd(phy, `{"type": "ipv6", "link": "eth0", "ip_address": "10.0.0.3/24"}`),
			`network_data.json: networks[0].ip_address: 10.0.0.3 is not an ipv6 address`},
		{"unknown link", "{}", nd(phy, `{"type": "ipv4_dhcp", "link": "eth1"}`),
			`network_data.json: networks[0].link: "eth1" is not the id of a link`},
		{"network type", "{}", nd(phy, `{"type": "ipv5", "link": "eth0"}`),
			`network_data.json: networks[0].type: "ipv5" is not a network type`},
		{"bad route", "{}", nd(phy, `{"type": "ipv4_dhcp", "link": "eth0", "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "192.168.1"}]}`),
			`network_data.json: networks[0].routes[0].gateway: "192.168.1" is not an IP address`},
		{"route mask", "{}", nd(phy, `{"type": "ipv4_dhcp", "link": "eth0", "routes": [{"network": "10.0.0.0", "netmask": "ffff::"}]}`),
			`network_data.json: networks[0].routes[0].netmask: netmask ffff:: does not fit address 10.0.0.0 (other IP family)`},
		{"bad MAC", "{}", nd(`{"id": "eth0", "type": "phy", "ethernet_mac_address": "fa:16:3e"}`, ""),
			`network_data.json: links[0].ethernet_mac_address: "fa:16:3e" is not a MAC address`},
		{"mtu type", "{}", nd(`{"id": "eth0", "type": "phy", "mtu": "9000"}`, ""),
			`network_data.json: links[0].mtu: a JSON string where a number belongs`},
		{"mtu range", "{}", nd(`{"id": "eth0", "type": "phy", "mtu": 10}`, ""),
			`network_data.json: links[0].mtu: 10 is out of range (68-65535)`},
		{"no id", "{}", nd(`{"type": "phy"}`, ""), `network_data.json: links[0].id: missing`},
		{"duplicate id", "{}", nd(phy+","+phy, ""), `network_data.json: links[1].id: "eth0" names another link too`},
		{"bond member", "{}", nd(phy+`,{"id": "b", "type": "bond", "bond_links": ["eth0", "eth9"]}`, ""),
			`network_data.json: links[1].bond_links[1]: "eth9" is not the id of a link`},
		{"vlan id", "{}", nd(phy+`,{"id": "v", "type": "vlan", "vlan_link": "eth0", "vlan_id": 0}`, ""),
			`network_data.json: links[1].vlan_id: VLAN id 0 is out of range (1-4094)`},
		{"vlan link", "{}", nd(`{"id": "v", "type": "vlan", "vlan_link": "eth0", "vlan_id": 5}`, ""),
			`network_data.json: links[0].vlan_link: "eth0" is not the id of a link`},
		{"dns", "{}", `{"services": [{"type": "dns", "address": "dns.example"}]}`,
			`network_data.json: services[0].address: "dns.example" is not an IP address`},
		{"links an object", "{}", `{"links": {}}`, `network_data.json: links: a JSON object where a list belongs`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md, err := Parse([]byte(tc.meta), []byte(tc.net), nil)
			if err == nil {
				t.Fatalf("no error; got %+v", md)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error\n got %s\nwant %s…", err, tc.want)
			}
		})
	}
}
