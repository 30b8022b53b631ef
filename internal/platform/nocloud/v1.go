package nocloud

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/etcd-appliance/appliance/internal/platform"
	"github.com/etcd-appliance/appliance/internal/platform/netconf"
)

// v1Entry is one item of a version-1 config list; which fields count depends on Type.
type v1Entry struct {
	Type       string      `yaml:"type"`
	Name       string      `yaml:"name"`
	MACAddress string      `yaml:"mac_address"`
	MTU        int         `yaml:"mtu"`
	Subnets    []yaml.Node `yaml:"subnets"`

	BondInterfaces []string       `yaml:"bond_interfaces"`
	Params         map[string]any `yaml:"params"`

	VLANID   int    `yaml:"vlan_id"`
	VLANLink string `yaml:"vlan_link"`

	// type nameserver
	Address strList `yaml:"address"`
	Search  strList `yaml:"search"`

	// type route
	v1Route `yaml:",inline"`
}

type v1Route struct {
	Destination string `yaml:"destination"`
	Network     string `yaml:"network"`
	Netmask     string `yaml:"netmask"`
	Gateway     string `yaml:"gateway"`
	Metric      int    `yaml:"metric"`
}

type v1Subnet struct {
	Type           string    `yaml:"type"`
	Address        string    `yaml:"address"`
	Netmask        string    `yaml:"netmask"`
	Gateway        string    `yaml:"gateway"`
	DNSNameservers strList   `yaml:"dns_nameservers"`
	DNSSearch      strList   `yaml:"dns_search"`
	Routes         []v1Route `yaml:"routes"`
}

// v1SubnetType tells what a v1 subnet type turns on: a static address, DHCPv4, or dynamic
// IPv6 (DHCPv6 or SLAAC, both Interface.DHCP6).
func v1SubnetType(t string) (static, dhcp4, dhcp6, ok bool) {
	switch t {
	case "static", "static6":
		return true, false, false, true
	case "dhcp", "dhcp4":
		return false, true, false, true
	case "dhcp6", "ipv6_dhcpv6-stateful", "ipv6_dhcpv6-stateless", "ipv6_slaac":
		return false, false, true, true
	case "manual":
		return false, false, false, true
	}
	return false, false, false, false
}

func parseV1(prefix string, root *yaml.Node) (*platform.Network, error) {
	var items []yaml.Node
	if c := lookup(root, "config"); c != nil {
		if c = deref(c); c.Kind != yaml.SequenceNode && c.Tag != "!!null" {
			return nil, fmt.Errorf("%sconfig: want a list of devices, not %s", prefix, kind(c))
		}
		if err := decode(prefix+"config", c, &items); err != nil {
			return nil, err
		}
	}
	n := &platform.Network{}
	type ref struct{ path, name string }
	var refs []ref // interface names that must be defined somewhere in the list
	var routes []platform.Route
	for i := range items {
		path := fmt.Sprintf("%sconfig[%d]", prefix, i)
		var e v1Entry
		if err := decode(path, &items[i], &e); err != nil {
			return nil, err
		}
		switch e.Type {
		case "physical", "bond", "vlan":
		case "nameserver":
			if err := addDNS(n, path+".address", e.Address, e.Search); err != nil {
				return nil, err
			}
			continue
		case "route":
			r, err := v1RouteOf(path, e.v1Route)
			if err != nil {
				return nil, err
			}
			routes = append(routes, r)
			continue
		case "":
			return nil, fmt.Errorf("%s.type: missing (physical, bond, vlan, nameserver or route)", path)
		default:
			return nil, fmt.Errorf("%s.type: %q is not supported here (physical, bond, vlan, nameserver or route)", path, e.Type)
		}
		if e.Name == "" {
			return nil, fmt.Errorf("%s.name: missing: a %s needs a name", path, e.Type)
		}
		ifc := platform.Interface{Name: e.Name}
		if e.MACAddress != "" {
			mac, err := netconf.MAC(path+".mac_address", e.MACAddress)
			if err != nil {
				return nil, err
			}
			ifc.MAC = platform.MAC(mac)
		}
		if err := checkMTU(path+".mtu", e.MTU); err != nil {
			return nil, err
		}
		ifc.MTU = e.MTU
		switch e.Type {
		case "bond":
			if len(e.BondInterfaces) == 0 {
				return nil, fmt.Errorf("%s.bond_interfaces: missing: a bond needs member interfaces", path)
			}
			for j, m := range e.BondInterfaces {
				refs = append(refs, ref{fmt.Sprintf("%s.bond_interfaces[%d]", path, j), m})
			}
			ifc.Bond = e.BondInterfaces
			for _, k := range []string{"bond-mode", "bond_mode", "mode"} {
				if m, ok := e.Params[k]; ok {
					ifc.BondMode = fmt.Sprint(m)
					break
				}
			}
		case "vlan":
			if err := checkVLAN(path+".vlan_id", e.VLANID, path+".vlan_link", e.VLANLink); err != nil {
				return nil, err
			}
			ifc.VLAN, ifc.VLANLink = e.VLANID, e.VLANLink
			refs = append(refs, ref{path + ".vlan_link", e.VLANLink})
		}
		for j := range e.Subnets {
			if err := v1AddSubnet(n, &ifc, fmt.Sprintf("%s.subnets[%d]", path, j), &e.Subnets[j]); err != nil {
				return nil, err
			}
		}
		n.Interfaces = append(n.Interfaces, ifc)
	}
	for _, r := range refs {
		if !hasInterface(n, r.name) {
			return nil, fmt.Errorf("%s: %q is not an interface this config defines", r.path, r.name)
		}
	}
	for _, r := range routes {
		if !netconf.AttachRoute(n, r) {
			n.Routes = append(n.Routes, r)
		}
	}
	return n, nil
}

func v1AddSubnet(n *platform.Network, ifc *platform.Interface, path string, node *yaml.Node) error {
	var s v1Subnet
	if err := decode(path, node, &s); err != nil {
		return err
	}
	static, dhcp4, dhcp6, ok := v1SubnetType(s.Type)
	if !ok {
		return fmt.Errorf("%s.type: %q is not a subnet type (static, static6, dhcp, dhcp4, dhcp6, ipv6_slaac, ipv6_dhcpv6-stateful, ipv6_dhcpv6-stateless, manual)", path, s.Type)
	}
	ifc.DHCP4 = ifc.DHCP4 || dhcp4
	ifc.DHCP6 = ifc.DHCP6 || dhcp6
	if static {
		if s.Address == "" {
			return fmt.Errorf("%s.address: missing: a static subnet needs an address", path)
		}
		p, err := netconf.Prefix(path+".address", s.Address, path+".netmask", s.Netmask)
		if err != nil {
			return err
		}
		ifc.Addresses = netconf.AppendUnique(ifc.Addresses, p)
	}
	if s.Gateway != "" {
		gw, err := netconf.Addr(path+".gateway", s.Gateway)
		if err != nil {
			return err
		}
		ifc.Routes = append(ifc.Routes, netconf.DefaultRoute(gw))
	}
	for i, r := range s.Routes {
		route, err := v1RouteOf(fmt.Sprintf("%s.routes[%d]", path, i), r)
		if err != nil {
			return err
		}
		ifc.Routes = append(ifc.Routes, route)
	}
	return addDNS(n, path+".dns_nameservers", s.DNSNameservers, s.DNSSearch)
}

// v1RouteOf reads a route written as destination (CIDR) or network + netmask.
func v1RouteOf(path string, r v1Route) (platform.Route, error) {
	var out platform.Route
	var err error
	switch {
	case r.Destination != "":
		out.To, err = netconf.Network(path+".destination", r.Destination, path+".netmask", r.Netmask)
	case r.Network != "":
		out.To, err = netconf.Network(path+".network", r.Network, path+".netmask", r.Netmask)
	default:
		return out, fmt.Errorf("%s: missing destination (or network and netmask)", path)
	}
	if err != nil {
		return out, err
	}
	if r.Gateway != "" {
		if out.Via, err = netconf.Addr(path+".gateway", r.Gateway); err != nil {
			return out, err
		}
	}
	if r.Metric < 0 {
		return out, fmt.Errorf("%s.metric: %d is negative", path, r.Metric)
	}
	out.Metric = r.Metric
	return out, nil
}

// addDNS adds nameservers (path names their field) and search domains to n, each once.
func addDNS(n *platform.Network, path string, servers, search []string) error {
	for i, s := range servers {
		a, err := netconf.Addr(fmt.Sprintf("%s[%d]", path, i), s)
		if err != nil {
			return err
		}
		n.Nameservers = netconf.AppendUnique(n.Nameservers, a)
	}
	for _, d := range search {
		if d = strings.TrimSpace(d); d != "" {
			n.SearchDomains = netconf.AppendUnique(n.SearchDomains, d)
		}
	}
	return nil
}

func checkMTU(path string, mtu int) error {
	if mtu != 0 && (mtu < 68 || mtu > 65535) {
		return fmt.Errorf("%s: %d is out of range (68-65535)", path, mtu)
	}
	return nil
}

func checkVLAN(idPath string, id int, linkPath, link string) error {
	if id < 1 || id > 4094 {
		return fmt.Errorf("%s: VLAN id %d is out of range (1-4094)", idPath, id)
	}
	if link == "" {
		return fmt.Errorf("%s: missing: a VLAN needs the link it is on", linkPath)
	}
	return nil
}

func hasInterface(n *platform.Network, name string) bool {
	for _, ifc := range n.Interfaces {
		if ifc.Name == name {
			return true
		}
	}
	return false
}
