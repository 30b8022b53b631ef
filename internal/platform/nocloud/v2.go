package nocloud

import (
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/etcd-appliance/appliance/internal/platform"
	"github.com/etcd-appliance/appliance/internal/platform/netconf"
)

// v2Common holds the settings every version-2 (netplan-like) device kind shares.
type v2Common struct {
	DHCP4       bool        `yaml:"dhcp4"`
	DHCP6       bool        `yaml:"dhcp6"`
	Addresses   []yaml.Node `yaml:"addresses"` // "a/n", or a mapping {"a/n": {options}}
	Gateway4    string      `yaml:"gateway4"`
	Gateway6    string      `yaml:"gateway6"`
	Routes      []v2Route   `yaml:"routes"`
	MTU         int         `yaml:"mtu"`
	MACAddress  string      `yaml:"macaddress"`
	Nameservers struct {
		Addresses strList `yaml:"addresses"`
		Search    strList `yaml:"search"`
	} `yaml:"nameservers"`
}

type v2Route struct {
	To     string `yaml:"to"`
	Via    string `yaml:"via"`
	Metric int    `yaml:"metric"`
}

type v2Ethernet struct {
	v2Common `yaml:",inline"`
	Match    struct {
		MACAddress string `yaml:"macaddress"`
		Name       string `yaml:"name"`
	} `yaml:"match"`
	SetName string `yaml:"set-name"`
}

type v2Bond struct {
	v2Common   `yaml:",inline"`
	Interfaces []string `yaml:"interfaces"`
	Parameters struct {
		Mode string `yaml:"mode"`
	} `yaml:"parameters"`
}

type v2VLAN struct {
	v2Common `yaml:",inline"`
	ID       int    `yaml:"id"`
	Link     string `yaml:"link"`
}

// parseV2 reads ethernets, then bonds, then vlans, each in document order. Bonds and
// VLANs name their members and links by the ids the document uses; those become the
// Names of the interfaces they refer to.
func parseV2(prefix string, root *yaml.Node) (*platform.Network, error) {
	for _, k := range []string{"bridges", "wifis", "tunnels", "vrfs", "modems"} {
		if v := lookup(root, k); v != nil && !(v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
			return nil, fmt.Errorf("%s%s: not supported by this appliance (ethernets, bonds and vlans are)", prefix, k)
		}
	}
	n := &platform.Network{}
	names := map[string]string{} // document id → Interface.Name

	eths, err := entries(prefix+"ethernets", lookup(root, "ethernets"))
	if err != nil {
		return nil, err
	}
	for _, kv := range eths {
		id, path := kv[0].Value, prefix+"ethernets."+kv[0].Value
		var e v2Ethernet
		if err := decode(path, kv[1], &e); err != nil {
			return nil, err
		}
		ifc := platform.Interface{Name: id}
		switch {
		case e.SetName != "":
			ifc.Name = e.SetName
		case e.Match.Name != "":
			ifc.Name = e.Match.Name // may be a glob, as networkd's [Match] Name= allows
		}
		mac, macPath := e.Match.MACAddress, path+".match.macaddress"
		if mac == "" {
			mac, macPath = e.MACAddress, path+".macaddress"
		}
		if mac != "" {
			if ifc.MAC, err = netconf.MAC(macPath, mac); err != nil {
				return nil, err
			}
		}
		if err := v2Apply(n, &ifc, path, &e.v2Common); err != nil {
			return nil, err
		}
		names[id] = ifc.Name
		n.Interfaces = append(n.Interfaces, ifc)
	}

	bonds, err := entries(prefix+"bonds", lookup(root, "bonds"))
	if err != nil {
		return nil, err
	}
	type pending struct {
		i    int // index in n.Interfaces
		path string
		ids  []string
	}
	var bondMembers []pending
	for _, kv := range bonds {
		id, path := kv[0].Value, prefix+"bonds."+kv[0].Value
		var b v2Bond
		if err := decode(path, kv[1], &b); err != nil {
			return nil, err
		}
		if len(b.Interfaces) == 0 {
			return nil, fmt.Errorf("%s.interfaces: missing: a bond needs member interfaces", path)
		}
		ifc := platform.Interface{Name: id, BondMode: b.Parameters.Mode}
		if err := v2Virtual(n, &ifc, path, &b.v2Common); err != nil {
			return nil, err
		}
		bondMembers = append(bondMembers, pending{len(n.Interfaces), path + ".interfaces", b.Interfaces})
		names[id] = id
		n.Interfaces = append(n.Interfaces, ifc)
	}

	vlans, err := entries(prefix+"vlans", lookup(root, "vlans"))
	if err != nil {
		return nil, err
	}
	var vlanLinks []pending
	for _, kv := range vlans {
		id, path := kv[0].Value, prefix+"vlans."+kv[0].Value
		var v v2VLAN
		if err := decode(path, kv[1], &v); err != nil {
			return nil, err
		}
		if err := checkVLAN(path+".id", v.ID, path+".link", v.Link); err != nil {
			return nil, err
		}
		ifc := platform.Interface{Name: id, VLAN: v.ID}
		if err := v2Virtual(n, &ifc, path, &v.v2Common); err != nil {
			return nil, err
		}
		vlanLinks = append(vlanLinks, pending{len(n.Interfaces), path + ".link", []string{v.Link}})
		names[id] = id
		n.Interfaces = append(n.Interfaces, ifc)
	}

	resolve := func(p pending, list bool) ([]string, error) {
		var out []string
		for j, id := range p.ids {
			name, ok := names[id]
			if !ok {
				path := p.path
				if list {
					path = fmt.Sprintf("%s[%d]", path, j)
				}
				return nil, fmt.Errorf("%s: %q is not a device this config defines", path, id)
			}
			out = append(out, name)
		}
		return out, nil
	}
	for _, p := range bondMembers {
		if n.Interfaces[p.i].Bond, err = resolve(p, true); err != nil {
			return nil, err
		}
	}
	for _, p := range vlanLinks {
		link, err := resolve(p, false)
		if err != nil {
			return nil, err
		}
		n.Interfaces[p.i].VLANLink = link[0]
	}
	return n, nil
}

// v2Virtual applies the common settings of a bond or VLAN; its macaddress is the one to set.
func v2Virtual(n *platform.Network, ifc *platform.Interface, path string, c *v2Common) error {
	if c.MACAddress != "" {
		mac, err := netconf.MAC(path+".macaddress", c.MACAddress)
		if err != nil {
			return err
		}
		ifc.MAC = mac
	}
	return v2Apply(n, ifc, path, c)
}

// v2Apply applies DHCP, addresses, gateways, routes, MTU and nameservers.
func v2Apply(n *platform.Network, ifc *platform.Interface, path string, c *v2Common) error {
	ifc.DHCP4, ifc.DHCP6 = c.DHCP4, c.DHCP6
	if err := checkMTU(path+".mtu", c.MTU); err != nil {
		return err
	}
	ifc.MTU = c.MTU
	for i := range c.Addresses {
		ap := fmt.Sprintf("%s.addresses[%d]", path, i)
		a := deref(&c.Addresses[i])
		if a.Kind == yaml.MappingNode && len(a.Content) == 2 { // {"10.0.0.5/24": {lifetime: 0, label: …}}
			a = a.Content[0]
		}
		if a.Kind != yaml.ScalarNode {
			return fmt.Errorf("%s: want an address with prefix length (10.0.0.5/24), not %s", ap, kind(a))
		}
		p, err := netconf.Prefix(ap, a.Value, "", "")
		if err != nil {
			return err
		}
		ifc.Addresses = netconf.AppendUnique(ifc.Addresses, p)
	}
	for _, gw := range []struct{ field, value string }{{"gateway4", c.Gateway4}, {"gateway6", c.Gateway6}} {
		if gw.value == "" {
			continue
		}
		a, err := netconf.Addr(path+"."+gw.field, gw.value)
		if err != nil {
			return err
		}
		if want4 := gw.field == "gateway4"; a.Is4() != want4 {
			return fmt.Errorf("%s.%s: %s is of the other IP family", path, gw.field, a)
		}
		ifc.Routes = append(ifc.Routes, netconf.DefaultRoute(a))
	}
	for i, r := range c.Routes {
		route, err := v2RouteOf(fmt.Sprintf("%s.routes[%d]", path, i), r)
		if err != nil {
			return err
		}
		ifc.Routes = append(ifc.Routes, route)
	}
	return addDNS(n, path+".nameservers.addresses", c.Nameservers.Addresses, c.Nameservers.Search)
}

func v2RouteOf(path string, r v2Route) (platform.Route, error) {
	var out platform.Route
	var err error
	if r.Via != "" {
		if out.Via, err = netconf.Addr(path+".via", r.Via); err != nil {
			return out, err
		}
	}
	switch r.To {
	case "":
		return out, fmt.Errorf("%s.to: missing", path)
	case "default":
		if !out.Via.IsValid() {
			return out, fmt.Errorf("%s: a default route needs via (its family is unknown without it)", path)
		}
		out.To = netconf.DefaultRoute(out.Via).To
	default:
		if out.To, err = netconf.Network(path+".to", r.To, "", ""); err != nil {
			return out, err
		}
	}
	if r.Metric < 0 {
		return out, fmt.Errorf("%s.metric: %d is negative", path, r.Metric)
	}
	out.Metric = r.Metric
	return out, nil
}
