package openstack

import (
	"encoding/json"
	"fmt"

	"github.com/etcd-appliance/appliance/internal/platform"
	"github.com/etcd-appliance/appliance/internal/platform/netconf"
)

// networkData is network_data.json: links (layer 2), networks (layer 3 on a link) and
// services (DNS). Items are decoded one by one so errors can name their index.
type networkData struct {
	Links    []json.RawMessage `json:"links"`
	Networks []json.RawMessage `json:"networks"`
	Services []json.RawMessage `json:"services"`
}

type link struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Type      string   `json:"type"` // bond, vlan, or the VIF type of a NIC (phy, ovs, bridge, tap, …)
	MAC       string   `json:"ethernet_mac_address"`
	MTU       int      `json:"mtu"`
	BondLinks []string `json:"bond_links"`
	BondMode  string   `json:"bond_mode"`
	VLANID    int      `json:"vlan_id"`
	VLANLink  string   `json:"vlan_link"`
	VLANMAC   string   `json:"vlan_mac_address"`
}

type network struct {
	ID        string            `json:"id"`
	Type      string            `json:"type"`
	Link      string            `json:"link"`
	IPAddress string            `json:"ip_address"`
	Netmask   string            `json:"netmask"`
	Routes    []json.RawMessage `json:"routes"`
	Services  []json.RawMessage `json:"services"`
}

type route struct {
	Network string `json:"network"`
	Netmask string `json:"netmask"`
	Gateway string `json:"gateway"`
}

type service struct {
	Type    string `json:"type"`
	Address string `json:"address"`
}

// parseNetworkData maps links to interfaces (named by their name, else their id; bonds and
// VLANs refer to the Names of their members and link), and networks to addresses, DHCP and
// routes on their link.
func parseNetworkData(b []byte) (*platform.Network, error) {
	var d networkData
	if err := unmarshal("", b, &d); err != nil {
		return nil, err
	}
	n := &platform.Network{}
	byID := map[string]int{} // link id → index in n.Interfaces
	links := make([]link, len(d.Links))
	for i, raw := range d.Links {
		path := fmt.Sprintf("links[%d]", i)
		l := &links[i]
		if err := unmarshal(path, raw, l); err != nil {
			return nil, err
		}
		if l.ID == "" {
			return nil, fmt.Errorf("%s.id: missing", path)
		}
		if _, dup := byID[l.ID]; dup {
			return nil, fmt.Errorf("%s.id: %q names another link too", path, l.ID)
		}
		ifc := platform.Interface{Name: l.Name}
		if ifc.Name == "" {
			ifc.Name = l.ID
		}
		mac, macPath := l.MAC, path+".ethernet_mac_address"
		if l.Type == "vlan" && l.VLANMAC != "" {
			mac, macPath = l.VLANMAC, path+".vlan_mac_address"
		}
		if mac != "" {
			var err error
			if ifc.MAC, err = netconf.MAC(macPath, mac); err != nil {
				return nil, err
			}
		}
		if l.MTU != 0 && (l.MTU < 68 || l.MTU > 65535) {
			return nil, fmt.Errorf("%s.mtu: %d is out of range (68-65535)", path, l.MTU)
		}
		ifc.MTU = l.MTU
		switch l.Type {
		case "bond":
			if len(l.BondLinks) == 0 {
				return nil, fmt.Errorf("%s.bond_links: missing: a bond needs member links", path)
			}
			ifc.BondMode = l.BondMode
		case "vlan":
			if l.VLANID < 1 || l.VLANID > 4094 {
				return nil, fmt.Errorf("%s.vlan_id: VLAN id %d is out of range (1-4094)", path, l.VLANID)
			}
			if l.VLANLink == "" {
				return nil, fmt.Errorf("%s.vlan_link: missing: a VLAN needs the link it is on", path)
			}
			ifc.VLAN = l.VLANID
		}
		byID[l.ID] = len(n.Interfaces)
		n.Interfaces = append(n.Interfaces, ifc)
	}
	// Members and parents may come after the bond or VLAN that names them.
	for i, l := range links {
		for j, id := range l.BondLinks {
			k, ok := byID[id]
			if !ok {
				return nil, fmt.Errorf("links[%d].bond_links[%d]: %q is not the id of a link", i, j, id)
			}
			n.Interfaces[i].Bond = append(n.Interfaces[i].Bond, n.Interfaces[k].Name)
		}
		if l.Type == "vlan" {
			k, ok := byID[l.VLANLink]
			if !ok {
				return nil, fmt.Errorf("links[%d].vlan_link: %q is not the id of a link", i, l.VLANLink)
			}
			n.Interfaces[i].VLANLink = n.Interfaces[k].Name
		}
	}

	for i, raw := range d.Networks {
		path := fmt.Sprintf("networks[%d]", i)
		var nw network
		if err := unmarshal(path, raw, &nw); err != nil {
			return nil, err
		}
		k, ok := byID[nw.Link]
		if !ok {
			return nil, fmt.Errorf("%s.link: %q is not the id of a link", path, nw.Link)
		}
		if err := addNetwork(n, &n.Interfaces[k], path, &nw); err != nil {
			return nil, err
		}
	}
	if err := addServices(n, "services", d.Services); err != nil {
		return nil, err
	}
	return n, nil
}

func addNetwork(n *platform.Network, ifc *platform.Interface, path string, nw *network) error {
	switch nw.Type {
	case "ipv4", "ipv6":
		if nw.IPAddress == "" {
			return fmt.Errorf("%s.ip_address: missing: a static %s network needs an address", path, nw.Type)
		}
		p, err := netconf.Prefix(path+".ip_address", nw.IPAddress, path+".netmask", nw.Netmask)
		if err != nil {
			return err
		}
		if p.Addr().Is4() != (nw.Type == "ipv4") {
			return fmt.Errorf("%s.ip_address: %s is not an %s address", path, p.Addr(), nw.Type)
		}
		ifc.Addresses = netconf.AppendUnique(ifc.Addresses, p)
	case "ipv4_dhcp":
		ifc.DHCP4 = true
	case "ipv6_dhcp", "ipv6_slaac", "ipv6_dhcpv6-stateful", "ipv6_dhcpv6-stateless":
		ifc.DHCP6 = true
	default:
		return fmt.Errorf("%s.type: %q is not a network type (ipv4, ipv6, ipv4_dhcp, ipv6_dhcp, ipv6_slaac, ipv6_dhcpv6-stateful, ipv6_dhcpv6-stateless)", path, nw.Type)
	}
	for j, raw := range nw.Routes {
		rp := fmt.Sprintf("%s.routes[%d]", path, j)
		var r route
		if err := unmarshal(rp, raw, &r); err != nil {
			return err
		}
		if r.Network == "" {
			return fmt.Errorf("%s.network: missing", rp)
		}
		to, err := netconf.Network(rp+".network", r.Network, rp+".netmask", r.Netmask)
		if err != nil {
			return err
		}
		out := platform.Route{To: to}
		if r.Gateway != "" {
			if out.Via, err = netconf.Addr(rp+".gateway", r.Gateway); err != nil {
				return err
			}
		}
		ifc.Routes = append(ifc.Routes, out)
	}
	return addServices(n, path+".services", nw.Services)
}

// addServices adds the addresses of dns services to n's nameservers; other services are
// not the appliance's business.
func addServices(n *platform.Network, path string, services []json.RawMessage) error {
	for i, raw := range services {
		sp := fmt.Sprintf("%s[%d]", path, i)
		var s service
		if err := unmarshal(sp, raw, &s); err != nil {
			return err
		}
		if s.Type != "dns" {
			continue
		}
		a, err := netconf.Addr(sp+".address", s.Address)
		if err != nil {
			return err
		}
		n.Nameservers = netconf.AppendUnique(n.Nameservers, a)
	}
	return nil
}
