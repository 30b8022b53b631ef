package networkd

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/etcd-appliance/appliance/internal/platform"
	"github.com/etcd-appliance/appliance/internal/platform/platformtest"
)

var (
	mac    = platformtest.MustMAC
	addrs  = platformtest.Addrs
	prefix = platformtest.Prefixes
)

func route(to, via string) platform.Route {
	r := platform.Route{To: netip.MustParsePrefix(to)}
	if via != "" {
		r.Via = netip.MustParseAddr(via)
	}
	return r
}

func routes(r ...platform.Route) []platform.Route { return r }

// TestRules checks one rule per case: which files Render writes, and lines that must or
// must not be in them. The golden tests show whole files.
func TestRules(t *testing.T) {
	for _, tc := range []struct {
		name  string
		n     *platform.Network
		files []string            // all the file names, in order
		has   map[string][]string // file → lines it must have
		lacks map[string][]string // file → lines it must not have
	}{
		{name: "nil network", n: nil},
		{name: "empty network", n: &platform.Network{}},
		{name: "nameservers without interfaces: DHCP brings its own", n: &platform.Network{Nameservers: addrs("192.0.2.53"), SearchDomains: []string{"example.org"}}},
		{
			name:  "matched by MAC, named after the interface",
			n:     &platform.Network{Interfaces: []platform.Interface{{Name: "eth0", MAC: mac("52:54:00:12:34:56"), DHCP4: true}}},
			files: []string{"10-appliance-eth0.network"},
			has:   map[string][]string{"10-appliance-eth0.network": {"MACAddress=52:54:00:12:34:56", "Type=ether", "DHCP=ipv4", "IPv6AcceptRA=no", "UseDomains=yes"}},
			lacks: map[string][]string{"10-appliance-eth0.network": {"Name=eth0", "PermanentMACAddress=52:54:00:12:34:56"}},
		},
		{
			name:  "matched by MAC, no name: the file is named after the MAC",
			n:     &platform.Network{Interfaces: []platform.Interface{{MAC: mac("52:54:00:12:34:56"), DHCP6: true}}},
			files: []string{"10-appliance-525400123456.network"},
			has:   map[string][]string{"10-appliance-525400123456.network": {"MACAddress=52:54:00:12:34:56", "DHCP=ipv6", "IPv6AcceptRA=yes", "LinkLocalAddressing=ipv6"}},
			lacks: map[string][]string{"10-appliance-525400123456.network": {"[DHCPv4]"}},
		},
		{
			name: "matched by name, exact after MAC, glob last",
			n: &platform.Network{Interfaces: []platform.Interface{
				{Name: "enp*", DHCP4: true},
				{Name: "eth1", DHCP4: true},
				{Name: "lan0", MAC: mac("52:54:00:ab:cd:ef"), Addresses: prefix("192.0.2.10/24")},
			}},
			files: []string{"10-appliance-lan0.network", "20-appliance-eth1.network", "30-appliance-enp_.network"},
			has: map[string][]string{
				"30-appliance-enp_.network": {"Name=enp*", "Type=ether"},
				"20-appliance-eth1.network": {"Name=eth1", "Type=ether"},
				"10-appliance-lan0.network": {"MACAddress=52:54:00:ab:cd:ef", "DHCP=no", "Address=192.0.2.10/24"},
			},
		},
		{
			name:  "a MAC match with a glob name is labelled by the MAC",
			n:     &platform.Network{Interfaces: []platform.Interface{{Name: "en*", MAC: mac("52:54:00:ab:cd:ef"), DHCP4: true}}},
			files: []string{"10-appliance-525400abcdef.network"},
			lacks: map[string][]string{"10-appliance-525400abcdef.network": {"Name=en*"}},
		},
		{
			name: "gateway outside a /32 is on-link",
			n: &platform.Network{Interfaces: []platform.Interface{{
				Name: "eth0", MAC: mac("96:00:00:00:00:01"), Addresses: prefix("203.0.113.7/32", "2001:db8::7/64"),
				Routes: routes(route("0.0.0.0/0", "172.31.1.1"), route("::/0", "fe80::1")),
			}}},
			files: []string{"10-appliance-eth0.network"},
			has:   map[string][]string{"10-appliance-eth0.network": {"Destination=0.0.0.0/0", "Gateway=172.31.1.1", "GatewayOnLink=yes", "Destination=::/0", "Gateway=fe80::1"}},
		},
		{
			name: "gateway inside the subnet, and link-local IPv6 gateways, are not marked on-link",
			n: &platform.Network{Interfaces: []platform.Interface{{
				Name: "eth0", MAC: mac("96:00:00:00:00:01"), Addresses: prefix("192.0.2.10/24", "2001:db8::7/64"),
				Routes: routes(route("0.0.0.0/0", "192.0.2.1"), route("::/0", "fe80::1")),
			}}},
			has:   map[string][]string{"10-appliance-eth0.network": {"Gateway=192.0.2.1", "Gateway=fe80::1"}},
			lacks: map[string][]string{"10-appliance-eth0.network": {"GatewayOnLink=yes"}},
			files: []string{"10-appliance-eth0.network"},
		},
		{
			name: "gateway beside DHCP only is on-link",
			n: &platform.Network{Interfaces: []platform.Interface{{
				Name: "eth0", DHCP4: true, Routes: routes(route("0.0.0.0/0", "192.168.1.1")),
			}}},
			files: []string{"20-appliance-eth0.network"},
			has:   map[string][]string{"20-appliance-eth0.network": {"Gateway=192.168.1.1", "GatewayOnLink=yes"}},
		},
		{
			name: "route without gateway",
			n: &platform.Network{Interfaces: []platform.Interface{{
				Name: "eth0", Addresses: prefix("192.0.2.10/24"), Routes: routes(route("198.51.100.0/24", "")),
			}}},
			files: []string{"20-appliance-eth0.network"},
			has:   map[string][]string{"20-appliance-eth0.network": {"Destination=198.51.100.0/24"}},
			lacks: map[string][]string{"20-appliance-eth0.network": {"Gateway=", "GatewayOnLink=yes", "Metric="}},
		},
		{
			name: "route metric, and a destination with host bits masked",
			n: &platform.Network{Interfaces: []platform.Interface{{
				Name: "eth0", Addresses: prefix("192.0.2.10/24"),
				Routes: []platform.Route{{To: netip.MustParsePrefix("203.0.113.9/24"), Via: netip.MustParseAddr("192.0.2.1"), Metric: 50}},
			}}},
			files: []string{"20-appliance-eth0.network"},
			has:   map[string][]string{"20-appliance-eth0.network": {"Destination=203.0.113.0/24", "Gateway=192.0.2.1", "Metric=50"}},
			lacks: map[string][]string{"20-appliance-eth0.network": {"GatewayOnLink=yes"}},
		},
		{
			name: "top-level route goes on the link whose subnet holds its gateway",
			n: &platform.Network{
				Interfaces: []platform.Interface{
					{Name: "eth0", Addresses: prefix("192.0.2.10/24")},
					{Name: "eth1", Addresses: prefix("10.1.0.5/16")},
				},
				Routes: []platform.Route{{To: netip.MustParsePrefix("10.0.0.0/8"), Via: netip.MustParseAddr("10.1.0.1"), Metric: 10}},
			},
			files: []string{"20-appliance-eth0.network", "20-appliance-eth1.network"},
			has:   map[string][]string{"20-appliance-eth1.network": {"Destination=10.0.0.0/8", "Gateway=10.1.0.1", "Metric=10"}},
			lacks: map[string][]string{"20-appliance-eth0.network": {"[Route]"}, "20-appliance-eth1.network": {"GatewayOnLink=yes"}},
		},
		{
			name: "nameservers go where they are reached, search domains with them",
			n: &platform.Network{
				Interfaces: []platform.Interface{
					{Name: "pub", MAC: mac("02:00:00:00:00:01"), Addresses: prefix("192.0.2.10/24"), Routes: routes(route("0.0.0.0/0", "192.0.2.1"))},
					{Name: "priv", MAC: mac("02:00:00:00:00:02"), Addresses: prefix("10.0.0.5/24")},
					{Name: "v6", MAC: mac("02:00:00:00:00:03"), DHCP6: true},
					{Name: "l2", MAC: mac("02:00:00:00:00:04")},
				},
				Nameservers:   addrs("10.0.0.53", "1.1.1.1", "2001:db8::53"),
				SearchDomains: []string{"example.org", "corp.example"},
			},
			files: []string{"10-appliance-l2.network", "10-appliance-priv.network", "10-appliance-pub.network", "10-appliance-v6.network"},
			has: map[string][]string{
				"10-appliance-pub.network":  {"DNS=10.0.0.53", "DNS=1.1.1.1", "Domains=example.org corp.example"},
				"10-appliance-priv.network": {"DNS=10.0.0.53", "Domains=example.org corp.example"},
				"10-appliance-v6.network":   {"DNS=2001:db8::53", "Domains=example.org corp.example"},
				"10-appliance-l2.network":   {"DHCP=no", "LinkLocalAddressing=no", "IPv6AcceptRA=no"},
			},
			lacks: map[string][]string{
				"10-appliance-priv.network": {"DNS=1.1.1.1", "DNS=2001:db8::53"},
				"10-appliance-v6.network":   {"DNS=10.0.0.53"},
				"10-appliance-l2.network":   {"DNS=10.0.0.53", "DNS=1.1.1.1", "Domains=example.org corp.example"},
			},
		},
		{
			name: "a nameserver no link reaches goes on every link with IP configuration",
			n: &platform.Network{
				Interfaces: []platform.Interface{
					{Name: "a", MAC: mac("02:00:00:00:00:01"), Addresses: prefix("192.0.2.10/24")},
					{Name: "b", MAC: mac("02:00:00:00:00:02"), Addresses: prefix("10.0.0.5/24")},
				},
				Nameservers: addrs("198.51.100.53"),
			},
			files: []string{"10-appliance-a.network", "10-appliance-b.network"},
			has:   map[string][]string{"10-appliance-a.network": {"DNS=198.51.100.53"}, "10-appliance-b.network": {"DNS=198.51.100.53"}},
		},
		{
			name: "bond: members by permanent MAC, bond takes the first member's MAC, kernel mode numbers",
			n: &platform.Network{Interfaces: []platform.Interface{
				{Name: "eno1", MAC: mac("3c:ec:ef:00:00:01"), MTU: 9000},
				{Name: "eno2", MAC: mac("3c:ec:ef:00:00:02")},
				{Name: "bond0", Bond: []string{"eno1", "3C:EC:EF:00:00:02"}, BondMode: "4", MTU: 9000, DHCP4: true},
			}},
			files: []string{"10-appliance-bond0.netdev", "10-appliance-bond0.network", "10-appliance-eno1.network", "10-appliance-eno2.network"},
			has: map[string][]string{
				"10-appliance-bond0.netdev":  {"Name=bond0", "Kind=bond", "MACAddress=3c:ec:ef:00:00:01", "[Bond]", "Mode=802.3ad", "MIIMonitorSec=100ms"},
				"10-appliance-bond0.network": {"Name=bond0", "MTUBytes=9000", "DHCP=ipv4"},
				"10-appliance-eno1.network":  {"PermanentMACAddress=3c:ec:ef:00:00:01", "Type=ether", "MTUBytes=9000", "Bond=bond0", "LinkLocalAddressing=no"},
				"10-appliance-eno2.network":  {"PermanentMACAddress=3c:ec:ef:00:00:02", "Bond=bond0"},
			},
			lacks: map[string][]string{
				"10-appliance-eno1.network":  {"MACAddress=3c:ec:ef:00:00:01", "DHCP=no", "[DHCPv4]"},
				"10-appliance-bond0.network": {"Type=ether"},
			},
		},
		{
			name: "bond with its own MAC, members by name, default mode",
			n: &platform.Network{Interfaces: []platform.Interface{
				{Name: "ens1"},
				{Name: "ens2"},
				{Name: "bond0", MAC: mac("02:00:00:00:00:99"), Bond: []string{"ens1", "ens2"}, BondMode: "Active-Backup"},
				{Name: "bond1", Bond: []string{"ens3"}},
				{Name: "ens3"},
			}},
			files: []string{
				"10-appliance-bond0.netdev", "10-appliance-bond0.network", "10-appliance-bond1.netdev", "10-appliance-bond1.network",
				"20-appliance-ens1.network", "20-appliance-ens2.network", "20-appliance-ens3.network",
			},
			has: map[string][]string{
				"10-appliance-bond0.netdev": {"MACAddress=02:00:00:00:00:99", "Mode=active-backup"},
				"20-appliance-ens1.network": {"Name=ens1", "Type=ether", "Bond=bond0"},
				"20-appliance-ens3.network": {"Bond=bond1"},
			},
			lacks: map[string][]string{"10-appliance-bond1.netdev": {"Mode=", "MACAddress="}},
		},
		{
			name: "VLAN on a physical link, with its own MAC",
			n: &platform.Network{Interfaces: []platform.Interface{
				{Name: "eth0", MAC: mac("02:00:00:00:00:01"), DHCP4: true},
				{Name: "eth0.7", MAC: mac("02:00:00:00:00:07"), VLAN: 7, VLANLink: "eth0", Addresses: prefix("192.0.2.20/24")},
				{Name: "eth0.8", VLAN: 8, VLANLink: "02:00:00:00:00:01", MTU: 1400},
			}},
			files: []string{"10-appliance-eth0.7.netdev", "10-appliance-eth0.7.network", "10-appliance-eth0.8.netdev", "10-appliance-eth0.8.network", "10-appliance-eth0.network"},
			has: map[string][]string{
				"10-appliance-eth0.network":   {"MACAddress=02:00:00:00:00:01", "DHCP=ipv4", "VLAN=eth0.7", "VLAN=eth0.8"},
				"10-appliance-eth0.7.netdev":  {"Name=eth0.7", "Kind=vlan", "MACAddress=02:00:00:00:00:07", "[VLAN]", "Id=7"},
				"10-appliance-eth0.7.network": {"Name=eth0.7", "Address=192.0.2.20/24"},
				"10-appliance-eth0.8.network": {"MTUBytes=1400", "DHCP=no"},
			},
			lacks: map[string][]string{"10-appliance-eth0.8.netdev": {"MACAddress="}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, err := Render(tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if err := Validate(tc.n); err != nil {
				t.Errorf("Validate: %v, but Render succeeded", err)
			}
			var names []string
			byName := map[string]string{}
			for _, f := range files {
				names = append(names, f.Name)
				byName[f.Name] = string(f.Data)
			}
			if !slices.Equal(names, tc.files) {
				t.Fatalf("files %q, want %q", names, tc.files)
			}
			for name, lines := range tc.has {
				for _, line := range lines {
					if !hasLine(byName[name], line) {
						t.Errorf("%s lacks %q:\n%s", name, line, byName[name])
					}
				}
			}
			for name, lines := range tc.lacks {
				for _, line := range lines {
					if hasLine(byName[name], line) || strings.HasSuffix(line, "=") && strings.Contains(byName[name], "\n"+line) {
						t.Errorf("%s has %q:\n%s", name, line, byName[name])
					}
				}
			}
		})
	}
}

func hasLine(text, line string) bool { return slices.Contains(strings.Split(text, "\n"), line) }

// TestErrors: what cannot be rendered is refused, naming the interface or entry and why.
func TestErrors(t *testing.T) {
	eth := func(name string, m string) platform.Interface {
		ifc := platform.Interface{Name: name, DHCP4: true}
		if m != "" {
			ifc.MAC = mac(m)
		}
		return ifc
	}
	ifcs := func(i ...platform.Interface) *platform.Network { return &platform.Network{Interfaces: i} }
	for _, tc := range []struct {
		name string
		n    *platform.Network
		want string
	}{
		{"neither name nor MAC", ifcs(eth("eth0", ""), platform.Interface{DHCP4: true}),
			"interfaces[1]: neither a name nor a MAC address to match a link by"},
		{"bond mode", ifcs(eth("eno1", ""), eth("eno2", ""), platform.Interface{Name: "bond0", Bond: []string{"eno1"}, BondMode: "lacp"}),
			`interfaces[2] "bond0": bond mode "lacp" is not one networkd knows (balance-rr, active-backup, balance-xor, broadcast, 802.3ad, balance-tlb, balance-alb)`},
		{"bond mode without members", ifcs(platform.Interface{Name: "eth0", BondMode: "802.3ad"}),
			`interfaces[0] "eth0": bond mode "802.3ad" without bond members`},
		{"bond without a name", ifcs(eth("eno1", ""), platform.Interface{MAC: mac("02:00:00:00:00:01"), Bond: []string{"eno1"}}),
			"interfaces[1] (MAC 02:00:00:00:00:01): a bond or VLAN needs a name for the device"},
		{"bond and VLAN", ifcs(platform.Interface{Name: "x", Bond: []string{"eno1"}, VLAN: 3, VLANLink: "eno1"}),
			`interfaces[0] "x": both a bond and a VLAN`},
		{"unknown member", ifcs(eth("eno1", ""), platform.Interface{Name: "bond0", Bond: []string{"eno1", "eno9"}}),
			`interfaces[1] "bond0": bond member "eno9" is not an interface of this network`},
		{"member with addresses", ifcs(platform.Interface{Name: "eno1", Addresses: prefix("192.0.2.1/24")}, platform.Interface{Name: "bond0", Bond: []string{"eno1"}}),
			`interfaces[0] "eno1": a member of bond "bond0" cannot have DHCP, addresses or routes of its own: put them on the bond`},
		{"member in two bonds", ifcs(platform.Interface{Name: "eno1"}, platform.Interface{Name: "b0", Bond: []string{"eno1"}}, platform.Interface{Name: "b1", Bond: []string{"eno1"}}),
			`interfaces[2] "b1": bond member "eno1" is a member of interfaces[1] "b0" already`},
		{"member twice", ifcs(platform.Interface{Name: "eno1", MAC: mac("02:00:00:00:00:01")}, platform.Interface{Name: "b0", Bond: []string{"eno1", "02:00:00:00:00:01"}}),
			`interfaces[1] "b0": bond member "02:00:00:00:00:01" is listed twice (bond[1])`},
		{"member is a VLAN", ifcs(platform.Interface{Name: "eno1"}, platform.Interface{Name: "v", VLAN: 2, VLANLink: "eno1"}, platform.Interface{Name: "b0", Bond: []string{"v"}}),
			`interfaces[2] "b0": bond member "v" is a bond or VLAN itself; members must be physical links`},
		{"member MTU", ifcs(platform.Interface{Name: "eno1", MTU: 1500}, platform.Interface{Name: "b0", MTU: 9000, Bond: []string{"eno1"}}),
			`interfaces[0] "eno1": MTU 1500 differs from bond "b0"'s 9000, which the kernel gives its members`},
		{"VLAN on a member", ifcs(platform.Interface{Name: "eno1"}, platform.Interface{Name: "b0", Bond: []string{"eno1"}}, platform.Interface{Name: "v", VLAN: 2, VLANLink: "eno1"}),
			`interfaces[0] "eno1": a member of bond "b0" cannot carry VLAN "v": put it on the bond`},
		{"VLAN id", ifcs(eth("eth0", ""), platform.Interface{Name: "v", VLAN: 4095, VLANLink: "eth0"}),
			`interfaces[1] "v": VLAN id 4095 is out of range (1-4094)`},
		{"VLAN without link", ifcs(platform.Interface{Name: "v", VLAN: 5}),
			`interfaces[0] "v": VLAN 5 has no link to run on`},
		{"VLAN link unknown", ifcs(eth("eth0", ""), platform.Interface{Name: "v", VLAN: 5, VLANLink: "eth1"}),
			`interfaces[1] "v": VLAN link "eth1" is not an interface of this network`},
		{"VLAN on itself", ifcs(platform.Interface{Name: "v", VLAN: 5, VLANLink: "v"}),
			`interfaces[0] "v": a VLAN cannot run on itself`},
		{"VLANs in a circle", ifcs(platform.Interface{Name: "v", VLAN: 5, VLANLink: "w"}, platform.Interface{Name: "w", VLAN: 6, VLANLink: "v"}),
			`interfaces[0] "v": its VLAN links run in a circle`},
		{"VLAN on a name pattern", ifcs(eth("en*", ""), platform.Interface{Name: "v", VLAN: 5, VLANLink: "en*"}),
			`interfaces[1] "v": runs on "en*", a name pattern that may match several links`},
		{"VLAN MTU", ifcs(platform.Interface{Name: "eth0", MTU: 1500}, platform.Interface{Name: "v", VLAN: 5, VLANLink: "eth0", MTU: 9000}),
			`interfaces[1] "v": MTU 9000 is larger than its link "eth0"'s 1500`},
		{"VLAN name too long", ifcs(eth("eth0", ""), platform.Interface{Name: "a-very-long-vlan-name", VLAN: 5, VLANLink: "eth0"}),
			`interfaces[1] "a-very-long-vlan-name": device name "a-very-long-vlan-name" is longer than 15 bytes`},
		{"VLAN name a pattern", ifcs(eth("eth0", ""), platform.Interface{Name: "eth0.*", VLAN: 5, VLANLink: "eth0"}),
			`interfaces[1] "eth0.*": device name "eth0.*" is a pattern, not a name`},
		{"bond name with a slash", ifcs(eth("eno1", ""), platform.Interface{Name: "b/0", Bond: []string{"eno1"}}),
			`interfaces[1] "b/0": device name "b/0" holds '/' or ':'`},
		{"name with a space", ifcs(eth("eth 0", "")), `interfaces[0] "eth 0": name holds a space or control character`},
		{"inverted name match", ifcs(eth("!eth0", "")), `interfaces[0] "!eth0": a name starting with '!' would invert networkd's Name= match`},
		{"duplicate name", ifcs(eth("eth0", "02:00:00:00:00:01"), eth("eth0", "02:00:00:00:00:02")),
			`interfaces[1] "eth0": the name of interfaces[0] "eth0" too`},
		{"duplicate MAC", ifcs(eth("", "02:00:00:00:00:01"), eth("eth1", "02:00:00:00:00:01")),
			`interfaces[1] "eth1": MAC 02:00:00:00:00:01 is interfaces[0] (MAC 02:00:00:00:00:01)'s too: both would match the same link`},
		{"same file", ifcs(eth("en*", ""), eth("en?", "")),
			`interfaces[1] "en?": would be written to 30-appliance-en_.network like interfaces[0] "en*"`},
		{"placeholder MAC", ifcs(eth("eth0", "00:00:00:00:00:00")), `interfaces[0] "eth0": MAC 00:00:00:00:00:00 is a placeholder that matches no link`},
		{"multicast MAC", ifcs(eth("eth0", "01:00:5e:00:00:01")), `interfaces[0] "eth0": MAC 01:00:5e:00:00:01 is a multicast address`},
		{"InfiniBand MAC", ifcs(eth("ib0", "00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:01")), `interfaces[0] "ib0": MAC`},
		{"MTU", ifcs(platform.Interface{Name: "eth0", MTU: 50}), `interfaces[0] "eth0": MTU 50 is out of range (68-65535)`},
		{"address", ifcs(platform.Interface{Name: "eth0", Addresses: prefix("0.0.0.0/0")}), `interfaces[0] "eth0": addresses[0]: 0.0.0.0/0 is not an interface address`},
		{"route families", ifcs(platform.Interface{Name: "eth0", Routes: routes(route("::/0", "192.0.2.1"))}),
			`interfaces[0] "eth0": routes[0]: gateway 192.0.2.1 and destination ::/0 are of different IP families`},
		{"route destination", ifcs(platform.Interface{Name: "eth0", Routes: []platform.Route{{Via: netip.MustParseAddr("192.0.2.1")}}}),
			`interfaces[0] "eth0": routes[0]: no destination`},
		{"route metric", ifcs(platform.Interface{Name: "eth0", Routes: []platform.Route{{To: netip.MustParsePrefix("0.0.0.0/0"), Via: netip.MustParseAddr("192.0.2.1"), Metric: -1}}}),
			`interfaces[0] "eth0": routes[0]: metric -1 is out of range (0-4294967295)`},
		{"top-level route nowhere", &platform.Network{
			Interfaces: []platform.Interface{{Name: "eth0", DHCP4: true}, {Name: "eth1", Addresses: prefix("10.0.0.5/24")}},
			Routes:     routes(route("198.51.100.0/24", "192.0.2.1")),
		}, `routes[0] (to 198.51.100.0/24 via 192.0.2.1): no interface has a static address in a subnet holding 192.0.2.1`},
		{"top-level route without interfaces", &platform.Network{Routes: routes(route("198.51.100.0/24", "192.0.2.1"))},
			`routes[0] (to 198.51.100.0/24 via 192.0.2.1): no interface has a static address`},
		{"top-level route without gateway", &platform.Network{
			Interfaces: []platform.Interface{{Name: "eth1", Addresses: prefix("10.0.0.5/24")}},
			Routes:     routes(route("198.51.100.0/24", "")),
		}, `routes[0] (to 198.51.100.0/24 via invalid IP): no gateway to choose its interface by`},
		{"top-level route families", &platform.Network{Routes: routes(route("0.0.0.0/0", "2001:db8::1"))},
			`routes[0]: gateway 2001:db8::1 and destination 0.0.0.0/0 are of different IP families`},
		{"nameserver", &platform.Network{Nameservers: []netip.Addr{{}}}, `nameservers[0]: invalid IP is not a nameserver address`},
		{"search domain with a space", &platform.Network{SearchDomains: []string{"example.org corp.example"}},
			`search_domains[0]: search domain "example.org corp.example" holds a space or control character`},
		{"routing domain", &platform.Network{SearchDomains: []string{"~example.org"}}, `search_domains[0]: search domain "~example.org" starts with '~'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, err := Render(tc.n)
			if err == nil {
				t.Fatalf("no error; rendered %d files", len(files))
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error\n got %s\nwant %s…", err, tc.want)
			}
			if files != nil {
				t.Errorf("files %v beside the error", files)
			}
			if verr := Validate(tc.n); verr == nil || verr.Error() != err.Error() {
				t.Errorf("Validate: %v, Render: %v", verr, err)
			}
		})
	}
}

// TestDeterministic: the same network renders byte for byte the same, whatever map order.
func TestDeterministic(t *testing.T) {
	n := &platform.Network{
		Interfaces: []platform.Interface{
			{Name: "eno1", MAC: mac("3c:ec:ef:00:00:01")},
			{Name: "eno2", MAC: mac("3c:ec:ef:00:00:02")},
			{Name: "bond0", Bond: []string{"eno1", "eno2"}, BondMode: "802.3ad"},
			{Name: "bond0.2", VLAN: 2, VLANLink: "bond0", Addresses: prefix("192.0.2.10/24"), Routes: routes(route("0.0.0.0/0", "192.0.2.1"))},
		},
		Nameservers: addrs("192.0.2.53", "198.51.100.53"),
	}
	first, err := Render(n)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, err := Render(n)
		if err != nil {
			t.Fatal(err)
		}
		if string(concat(again)) != string(concat(first)) {
			t.Fatalf("renders differ:\n%s\n---\n%s", concat(first), concat(again))
		}
	}
}
