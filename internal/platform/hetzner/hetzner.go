// Package hetzner reads a Hetzner Cloud server's metadata from its metadata service.
//
// The fetch (fetch.go) reads three documents: /hetzner/v1/metadata (YAML, with the
// cloud-init-style network-config embedded), /hetzner/v1/metadata/private-networks (YAML) and
// /hetzner/v1/userdata (raw); the pure ParseMetadata turns them into platform.Metadata.
//
// The network-config parser here reads only the version-1 shape Hetzner publishes (physical
// interfaces with dhcp/static subnets, and nameserver entries); anything else is refused with
// an error naming the field, not guessed at.
package hetzner

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/etcd-appliance/appliance/internal/platform"
)

// Name is the platform's name in etcd.platform=.
const Name = "hetzner"

type metadataDoc struct {
	Hostname      string    `yaml:"hostname"`
	InstanceID    string    `yaml:"instance-id"` // an integer in the YAML
	PublicIPv4    string    `yaml:"public-ipv4"`
	PublicKeys    []string  `yaml:"public-keys"`
	NetworkConfig yaml.Node `yaml:"network-config"`
}

type privateNetworkDoc struct {
	IP         string   `yaml:"ip"`
	AliasIPs   []string `yaml:"alias_ips"`
	MACAddress string   `yaml:"mac_address"`
}

// ParseMetadata turns the metadata document, the private-networks document (nil when the
// server is in no network) and the user-data (empty: none) into platform.Metadata.
//
// Network is the embedded network-config (the public interface: DHCP for IPv4, the static
// IPv6 address and gateway, resolvers) plus one interface per private network, matched by MAC:
// Hetzner serves private network addresses by DHCP, but alias IPs must be configured by the
// guest, so they are static /32 addresses. Addresses holds the public IPv4, the static
// addresses, and the private and alias IPs. PublicAddresses stays empty: Hetzner's public
// addresses are on the server's interface, not NAT'd (floating IPs are not in the metadata).
func ParseMetadata(metadata, privateNetworks, userData []byte) (*platform.Metadata, error) {
	var d metadataDoc
	if err := yaml.Unmarshal(metadata, &d); err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	md := &platform.Metadata{Platform: Name, InstanceID: d.InstanceID, Hostname: d.Hostname}
	if md.InstanceID == "" {
		return nil, fmt.Errorf("metadata: instance-id: missing")
	}
	if len(bytes.TrimSpace(userData)) > 0 {
		md.UserData = userData
	}
	for i, k := range d.PublicKeys {
		k = strings.TrimSpace(k)
		if len(strings.Fields(k)) < 2 {
			return nil, fmt.Errorf("metadata: public-keys[%d]: %q is not an OpenSSH public key", i, k)
		}
		md.SSHKeys = append(md.SSHKeys, k)
	}
	if d.PublicIPv4 != "" {
		a, err := netip.ParseAddr(d.PublicIPv4)
		if err != nil || !a.Is4() {
			return nil, fmt.Errorf("metadata: public-ipv4: %q is not an IPv4 address", d.PublicIPv4)
		}
		md.Addresses = append(md.Addresses, a)
	}
	if d.NetworkConfig.Kind != 0 {
		nw, err := parseNetworkConfig(&d.NetworkConfig, "metadata: network-config")
		if err != nil {
			return nil, err
		}
		md.Network = nw
	}
	for _, iface := range interfaces(md.Network) {
		for _, p := range iface.Addresses {
			md.Addresses = append(md.Addresses, p.Addr())
		}
	}
	private, addrs, err := parsePrivateNetworks(privateNetworks)
	if err != nil {
		return nil, err
	}
	md.Addresses = append(md.Addresses, addrs...)
	if len(private) > 0 {
		if md.Network == nil {
			md.Network = &platform.Network{}
		}
		md.Network.Interfaces = append(md.Network.Interfaces, private...)
	}
	return md, nil
}

func interfaces(n *platform.Network) []platform.Interface {
	if n == nil {
		return nil
	}
	return n.Interfaces
}

// parsePrivateNetworks returns an interface per private network and the addresses on them.
func parsePrivateNetworks(doc []byte) ([]platform.Interface, []netip.Addr, error) {
	var nets []privateNetworkDoc
	if err := yaml.Unmarshal(doc, &nets); err != nil {
		return nil, nil, fmt.Errorf("private-networks: %w", err)
	}
	var ifaces []platform.Interface
	var addrs []netip.Addr
	for i, n := range nets {
		field := fmt.Sprintf("private-networks[%d]", i)
		mac, err := net.ParseMAC(n.MACAddress)
		if err != nil {
			return nil, nil, fmt.Errorf("%s.mac_address: %w", field, err)
		}
		iface := platform.Interface{MAC: platform.MAC(mac), DHCP4: true}
		a, err := netip.ParseAddr(n.IP)
		if err != nil || !a.Is4() {
			return nil, nil, fmt.Errorf("%s.ip: %q is not an IPv4 address", field, n.IP)
		}
		addrs = append(addrs, a)
		for j, s := range n.AliasIPs {
			a, err := netip.ParseAddr(s)
			if err != nil || !a.Is4() {
				return nil, nil, fmt.Errorf("%s.alias_ips[%d]: %q is not an IPv4 address", field, j, s)
			}
			iface.Addresses = append(iface.Addresses, netip.PrefixFrom(a, 32))
			addrs = append(addrs, a)
		}
		ifaces = append(ifaces, iface)
	}
	return ifaces, addrs, nil
}

// networkConfigDoc is the cloud-init network config version 1 as Hetzner writes it.
type networkConfigDoc struct {
	Version int `yaml:"version"`
	Config  []struct {
		Type       string `yaml:"type"`
		Name       string `yaml:"name"`
		MACAddress string `yaml:"mac_address"`
		MTU        int    `yaml:"mtu"`
		Subnets    []struct {
			Type           string   `yaml:"type"`
			Address        string   `yaml:"address"`
			Netmask        string   `yaml:"netmask"`
			Gateway        string   `yaml:"gateway"`
			DNSNameservers []string `yaml:"dns_nameservers"`
			DNSSearch      []string `yaml:"dns_search"`
		} `yaml:"subnets"`
		// type: nameserver
		Address []string `yaml:"address"`
		Search  []string `yaml:"search"`
	} `yaml:"config"`
}

// ParseNetworkConfig parses the network-config document Hetzner serves at
// /hetzner/v1/metadata/network-config (the same YAML that is embedded in the metadata).
func ParseNetworkConfig(doc []byte) (*platform.Network, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(doc, &n); err != nil {
		return nil, fmt.Errorf("network-config: %w", err)
	}
	return parseNetworkConfig(&n, "network-config")
}

func parseNetworkConfig(n *yaml.Node, field string) (*platform.Network, error) {
	var d networkConfigDoc
	if err := n.Decode(&d); err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	if d.Version != 1 {
		return nil, fmt.Errorf("%s.version: %d, want 1", field, d.Version)
	}
	nw := &platform.Network{}
	for i, c := range d.Config {
		f := fmt.Sprintf("%s.config[%d]", field, i)
		switch c.Type {
		case "nameserver":
			if err := addNameservers(nw, c.Address, c.Search, f+".address"); err != nil {
				return nil, err
			}
			continue
		case "physical":
		default:
			return nil, fmt.Errorf("%s.type: %q is not supported (Hetzner publishes physical and nameserver entries)", f, c.Type)
		}
		iface := platform.Interface{Name: c.Name, MTU: c.MTU}
		if c.MACAddress != "" {
			mac, err := net.ParseMAC(c.MACAddress)
			if err != nil {
				return nil, fmt.Errorf("%s.mac_address: %w", f, err)
			}
			if !zero(mac) { // a placeholder that matches no link: match by name instead
				iface.MAC = platform.MAC(mac)
			}
		}
		if iface.Name == "" && iface.MAC == nil {
			return nil, fmt.Errorf("%s: neither name nor mac_address: the interface cannot be matched", f)
		}
		for j, s := range c.Subnets {
			sf := fmt.Sprintf("%s.subnets[%d]", f, j)
			switch s.Type {
			case "dhcp", "dhcp4":
				iface.DHCP4 = true
			case "dhcp6":
				iface.DHCP6 = true
			case "static", "static6":
				p, err := staticAddress(s.Address, s.Netmask)
				if err != nil {
					return nil, fmt.Errorf("%s.address: %w", sf, err)
				}
				iface.Addresses = append(iface.Addresses, p)
				if s.Gateway != "" {
					gw, err := netip.ParseAddr(s.Gateway)
					if err != nil || gw.Is4() != p.Addr().Is4() {
						return nil, fmt.Errorf("%s.gateway: %q is not an address of the same family as %s", sf, s.Gateway, p)
					}
					to := netip.PrefixFrom(netip.IPv6Unspecified(), 0)
					if gw.Is4() {
						to = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
					}
					iface.Routes = append(iface.Routes, platform.Route{To: to, Via: gw})
				}
			default:
				return nil, fmt.Errorf("%s.type: %q is not supported (want dhcp, dhcp4, dhcp6, static or static6)", sf, s.Type)
			}
			if err := addNameservers(nw, s.DNSNameservers, s.DNSSearch, sf+".dns_nameservers"); err != nil {
				return nil, err
			}
		}
		nw.Interfaces = append(nw.Interfaces, iface)
	}
	return nw, nil
}

// staticAddress reads "ADDR/LEN", or ADDR with a netmask (dotted IPv4, or a prefix length).
func staticAddress(addr, netmask string) (netip.Prefix, error) {
	if strings.Contains(addr, "/") {
		if netmask != "" {
			return netip.Prefix{}, fmt.Errorf("%q has a prefix length and a netmask %q", addr, netmask)
		}
		return netip.ParsePrefix(addr)
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Prefix{}, err
	}
	if n, err := strconv.Atoi(netmask); err == nil && n >= 0 && n <= a.BitLen() {
		return netip.PrefixFrom(a, n), nil
	}
	if m, err := netip.ParseAddr(netmask); err == nil && m.Is4() && a.Is4() {
		b := m.As4()
		if ones, bits := net.IPv4Mask(b[0], b[1], b[2], b[3]).Size(); bits != 0 {
			return netip.PrefixFrom(a, ones), nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("%q needs a prefix length (ADDR/LEN or netmask), netmask is %q", addr, netmask)
}

func addNameservers(nw *platform.Network, servers, search []string, field string) error {
	for i, s := range servers {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return fmt.Errorf("%s[%d]: %w", field, i, err)
		}
		if !contains(nw.Nameservers, a) {
			nw.Nameservers = append(nw.Nameservers, a)
		}
	}
	for _, s := range search {
		if !contains(nw.SearchDomains, s) {
			nw.SearchDomains = append(nw.SearchDomains, s)
		}
	}
	return nil
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func zero(mac net.HardwareAddr) bool {
	for _, b := range mac {
		if b != 0 {
			return false
		}
	}
	return true
}
