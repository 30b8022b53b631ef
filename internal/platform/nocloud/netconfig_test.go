package nocloud

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/etcd-appliance/appliance/internal/platform"
	"github.com/etcd-appliance/appliance/internal/platform/platformtest"
)

// TestNetworkForms covers what the fixtures do not: the network: wrapper, netmasks, global
// routes and nameservers, v2 VLANs, set-name, and documents that mean "no network config".
func TestNetworkForms(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      *platform.Network
	}{
		{"empty", "", nil},
		{"comments only", "# nothing here\n", nil},
		{"null", "~\n", nil},
		{"disabled", "network:\n  config: disabled\n", nil},
		{"v1 with nothing", "version: 1\nconfig: []\n", nil},
		{"v1 wrapped, netmask, global routes and DNS", `
network:
  version: 1
  config:
    - type: physical
      name: eth0
      mac_address: "52:54:00:12:34:56"
      unknown-key: ignored
      subnets:
        - type: static
          address: 192.0.2.10
          netmask: 255.255.255.0
          gateway: 192.0.2.1
          dns_search: [example.org]
        - type: static6
          address: 2001:db8::10/64
        - type: ipv6_slaac
    - type: route
      destination: 198.51.100.0/24
      gateway: 192.0.2.254
      metric: 50
    - type: route
      network: 203.0.113.0
      netmask: 255.255.255.0
      gateway: 10.9.9.9
    - type: nameserver
      address: 192.0.2.53 2001:db8::53
      search: [example.org, example.net]
`, &platform.Network{
			Interfaces: []platform.Interface{{
				Name: "eth0", MAC: platformtest.MustMAC("52:54:00:12:34:56"), DHCP6: true,
				Addresses: platformtest.Prefixes("192.0.2.10/24", "2001:db8::10/64"),
				Routes: []platform.Route{
					route("0.0.0.0/0", "192.0.2.1"),
					{To: netip.MustParsePrefix("198.51.100.0/24"), Via: netip.MustParseAddr("192.0.2.254"), Metric: 50},
				},
			}},
			Nameservers:   platformtest.Addrs("192.0.2.53", "2001:db8::53"),
			SearchDomains: []string{"example.org", "example.net"},
			Routes:        []platform.Route{route("203.0.113.0/24", "10.9.9.9")},
		}},
		{"v2 set-name, vlan, default route, address options", `
version: 2
renderer: networkd
ethernets:
  nic:
    match: {macaddress: "52:54:00:AB:CD:EF"}
    set-name: lan0
    mtu: 1500
  byname:
    match: {name: "enp*"}
    dhcp4: yes
vlans:
  lan0.7:
    id: 7
    link: nic
    addresses:
      - 192.0.2.20/24
      - "2001:db8::20/64": {lifetime: 0}
    routes:
      - {to: default, via: 192.0.2.1, metric: 100}
    gateway6: 2001:db8::1
    nameservers:
      addresses: [192.0.2.53]
      search: [example.org]
`, &platform.Network{
			Interfaces: []platform.Interface{
				{Name: "lan0", MAC: platformtest.MustMAC("52:54:00:ab:cd:ef"), MTU: 1500},
				{Name: "enp*", DHCP4: true},
				{Name: "lan0.7", VLAN: 7, VLANLink: "lan0", Addresses: platformtest.Prefixes("192.0.2.20/24", "2001:db8::20/64"),
					Routes: []platform.Route{
						route("::/0", "2001:db8::1"),
						{To: netip.MustParsePrefix("0.0.0.0/0"), Via: netip.MustParseAddr("192.0.2.1"), Metric: 100},
					}},
			},
			Nameservers:   platformtest.Addrs("192.0.2.53"),
			SearchDomains: []string{"example.org"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(nil, nil, []byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Network, tc.want) {
				t.Errorf("got\n%s\nwant\n%s", dump(&platform.Metadata{Network: got.Network}), dump(&platform.Metadata{Network: tc.want}))
			}
		})
	}
}

// TestErrors: each bad document gives one error that names the document and the field.
func TestErrors(t *testing.T) {
	v1 := func(entries string) string { return "version: 1\nconfig:\n" + entries }
	eth0 := "  - type: physical\n    name: eth0\n"
	for _, tc := range []struct {
		name, metaData, networkConfig string
		want                          string
	}{
		{"bad IP", "", v1(eth0 + `  - type: physical
    name: eth1
    subnets:
      - type: static
        address: 10.0.0.300
        netmask: 255.255.255.0
`), `network-config: config[1].subnets[0].address: "10.0.0.300" is not an IP address`},
		{"prefix out of range", "", v1(eth0 + "    subnets: [{type: static, address: 10.0.0.3/40}]\n"),
			`network-config: config[0].subnets[0].address: "10.0.0.3/40": prefix length "40" is out of range (0-32)`},
		{"no prefix", "", v1(eth0 + "    subnets: [{type: static, address: 10.0.0.3}]\n"),
			`network-config: config[0].subnets[0].address: "10.0.0.3" has no prefix length: write it as 10.0.0.3/N or give config[0].subnets[0].netmask`},
		{"bad netmask", "", v1(eth0 + "    subnets: [{type: static, address: 10.0.0.3, netmask: 255.0.255.0}]\n"),
			`network-config: config[0].subnets[0].netmask: netmask 255.0.255.0 is not contiguous`},
		{"bad gateway", "", v1(eth0 + "    subnets: [{type: dhcp, gateway: gw}]\n"),
			`network-config: config[0].subnets[0].gateway: "gw" is not an IP address`},
		{"bad subnet type", "", v1(eth0 + "    subnets: [{type: dhcp7}]\n"),
			`network-config: config[0].subnets[0].type: "dhcp7" is not a subnet type`},
		{"bad route", "", v1(eth0 + "    subnets: [{type: dhcp, routes: [{gateway: 10.0.0.1}]}]\n"),
			`network-config: config[0].subnets[0].routes[0]: missing destination (or network and netmask)`},
		{"bad MAC", "", v1("  - {type: physical, name: eth0, mac_address: 52:54:00}\n"),
			`network-config: config[0].mac_address: "52:54:00" is not a MAC address`},
		{"bad MTU type", "", v1("  - {type: physical, name: eth0, mtu: big}\n"),
			"network-config: config[0]: line 3: cannot unmarshal !!str `big` into int"},
		{"MTU out of range", "", v1("  - {type: physical, name: eth0, mtu: 70000}\n"),
			`network-config: config[0].mtu: 70000 is out of range (68-65535)`},
		{"no name", "", v1("  - {type: physical}\n"), `network-config: config[0].name: missing: a physical needs a name`},
		{"no type", "", v1("  - {name: eth0}\n"), `network-config: config[0].type: missing`},
		{"bridge", "", v1(eth0 + "  - {type: bridge, name: br0, bridge_interfaces: [eth0]}\n"),
			`network-config: config[1].type: "bridge" is not supported here`},
		{"unknown bond member", "", v1(eth0 + "  - {type: bond, name: bond0, bond_interfaces: [eth0, eth9]}\n"),
			`network-config: config[1].bond_interfaces[1]: "eth9" is not an interface this config defines`},
		{"vlan id", "", v1(eth0 + "  - {type: vlan, name: v, vlan_id: 4095, vlan_link: eth0}\n"),
			`network-config: config[1].vlan_id: VLAN id 4095 is out of range (1-4094)`},
		{"bad nameserver", "", v1("  - {type: nameserver, address: [8.8.8.8, dns.google]}\n"),
			`network-config: config[0].address[1]: "dns.google" is not an IP address`},
		{"config not a list", "", "version: 1\nconfig: {a: b}\n", "network-config: config: want a list of devices, not a mapping"},
		{"wrapped path", "", "network:\n  version: 1\n  config:\n  - {type: physical, name: eth0, mac_address: x}\n",
			`network-config: network.config[0].mac_address: "x" is not a MAC address`},
		{"no version", "", "config: []\n", "network-config: version: missing (want 1 or 2)"},
		{"version 3", "", "network: {version: 3}\n", `network-config: network.version: "3" is not a network-config version (want 1 or 2)`},
		{"not a mapping", "", "- a\n- b\n", "network-config: line 1: want a mapping with version: 1 or 2, not a list"},
		{"not YAML", "", "version: [1\n", "network-config: yaml: line 1: did not find expected ',' or ']'"},
		{"v2 bad address", "", "version: 2\nethernets:\n  eth0:\n    addresses: [192.0.2.1/24, 192.0.2.300/24]\n",
			`network-config: ethernets.eth0.addresses[1]: "192.0.2.300/24" is not an IP address`},
		{"v2 address without prefix", "", "version: 2\nethernets:\n  eth0:\n    addresses: [192.0.2.1]\n",
			`network-config: ethernets.eth0.addresses[0]: "192.0.2.1" has no prefix length: write it as 192.0.2.1/N`},
		{"v2 gateway family", "", "version: 2\nethernets:\n  eth0: {gateway4: 2001:db8::1}\n",
			`network-config: ethernets.eth0.gateway4: 2001:db8::1 is of the other IP family`},
		{"v2 bad route", "", "version: 2\nethernets:\n  eth0:\n    routes: [{to: 10.0.0.0/8, via: 10.0.0.x}]\n",
			`network-config: ethernets.eth0.routes[0].via: "10.0.0.x" is not an IP address`},
		{"v2 default without via", "", "version: 2\nethernets:\n  eth0:\n    routes: [{to: default}]\n",
			`network-config: ethernets.eth0.routes[0]: a default route needs via`},
		{"v2 bad match MAC", "", "version: 2\nethernets:\n  eth0: {match: {macaddress: nope}}\n",
			`network-config: ethernets.eth0.match.macaddress: "nope" is not a MAC address`},
		{"v2 unknown bond member", "", "version: 2\nethernets: {eth0: {}}\nbonds:\n  bond0: {interfaces: [eth0, eth1]}\n",
			`network-config: bonds.bond0.interfaces[1]: "eth1" is not a device this config defines`},
		{"v2 bond without members", "", "version: 2\nbonds:\n  bond0: {parameters: {mode: active-backup}}\n",
			`network-config: bonds.bond0.interfaces: missing`},
		{"v2 vlan link", "", "version: 2\nvlans:\n  v7: {id: 7, link: eth0}\n",
			`network-config: vlans.v7.link: "eth0" is not a device this config defines`},
		{"v2 vlan without link", "", "version: 2\nvlans:\n  v7: {id: 7}\n",
			`network-config: vlans.v7.link: missing`},
		{"v2 ethernets a list", "", "version: 2\nethernets: [eth0]\n",
			`network-config: ethernets: want a mapping of names to settings, not a list`},
		{"v2 empty name", "", "version: 2\nethernets:\n  \"\": {dhcp4: true}\n",
			`network-config: ethernets: line 3: a device name must be a non-empty string, not ""`},
		{"v2 bridges", "", "version: 2\nbridges:\n  br0: {interfaces: [eth0]}\n",
			`network-config: bridges: not supported by this appliance`},
		{"v2 bad dhcp4", "", "version: 2\nethernets:\n  eth0: {dhcp4: maybe}\n",
			"network-config: ethernets.eth0: line 3: cannot unmarshal !!str `maybe` into bool"},
		{"meta-data not YAML", "instance-id: [\n", "", "meta-data: yaml: line 1:"},
		{"meta-data a list", "- a\n", "", "meta-data: line 1: want a mapping (instance-id: …, local-hostname: …), not a list"},
		{"meta-data bad type", "instance-id: {a: b}\n", "", "meta-data: line 1: cannot unmarshal !!map into string"},
		{"public-keys a number", "public-keys: 7\n", "", "meta-data: public-keys: 7 is not an SSH public key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md, err := Parse(nil, []byte(tc.metaData), []byte(tc.networkConfig))
			if err == nil {
				t.Fatalf("no error; got %+v", md)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error\n got %s\nwant %s…", err, tc.want)
			}
		})
	}
}
