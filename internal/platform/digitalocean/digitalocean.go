// Package digitalocean reads a Droplet's metadata from the DigitalOcean metadata service.
//
// The fetch (fetch.go) reads the whole tree as one JSON document, GET /metadata/v1.json; the
// pure ParseMetadata turns it into platform.Metadata. DigitalOcean publishes each interface's
// addresses and gateways, and the resolvers, and expects the guest to configure them
// statically, so Network is static configuration matched by MAC.
package digitalocean

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/etcd-appliance/appliance/internal/platform"
)

// Name is the platform's name in etcd.platform=.
const Name = "digitalocean"

type metadataDoc struct {
	DropletID  json.Number `json:"droplet_id"`
	Hostname   string      `json:"hostname"`
	UserData   string      `json:"user_data"`
	PublicKeys []string    `json:"public_keys"`
	Interfaces struct {
		Public  []ifaceDoc `json:"public"`
		Private []ifaceDoc `json:"private"`
	} `json:"interfaces"`
	DNS struct {
		Nameservers []string `json:"nameservers"`
	} `json:"dns"`
	ReservedIP reservedIPDoc `json:"reserved_ip"`
	FloatingIP reservedIPDoc `json:"floating_ip"` // the same, under its former name
}

// reservedIPDoc is a Reserved IP. Only IPv4 is read: it is NAT'd to the public interface's
// anchor_ipv4, so it is on no interface.
type reservedIPDoc struct {
	IPv4 struct {
		Active    bool   `json:"active"`
		IPAddress string `json:"ip_address"`
	} `json:"ipv4"`
}

// ifaceDoc is one interface; anchor_ipv4 (the Reserved IP plumbing) is not read.
type ifaceDoc struct {
	MAC  string `json:"mac"`
	IPv4 *struct {
		IPAddress string `json:"ip_address"`
		Netmask   string `json:"netmask"`
		Gateway   string `json:"gateway"`
	} `json:"ipv4"`
	IPv6 *struct {
		IPAddress string `json:"ip_address"`
		CIDR      int    `json:"cidr"`
		Gateway   string `json:"gateway"`
	} `json:"ipv6"`
}

// ParseMetadata turns /metadata/v1.json into platform.Metadata. Each interface gets its
// static addresses; the default routes go through the public interface's gateways only (the
// private network's gateway is not a way out). user_data "" means none. The public
// interface's addresses are on the Droplet, so they are Addresses; an active Reserved IPv4
// is NAT'd to it and is the one public address.
func ParseMetadata(doc []byte) (*platform.Metadata, error) {
	var d metadataDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("metadata/v1.json: %w", err)
	}
	md := &platform.Metadata{Platform: Name, InstanceID: d.DropletID.String(), Hostname: d.Hostname, Network: &platform.Network{}}
	if md.InstanceID == "" {
		return nil, fmt.Errorf("metadata/v1.json: droplet_id: missing")
	}
	if d.UserData != "" {
		md.UserData = []byte(d.UserData)
	}
	for i, k := range d.PublicKeys {
		k = strings.TrimSpace(k)
		if len(strings.Fields(k)) < 2 {
			return nil, fmt.Errorf("metadata/v1.json: public_keys[%d]: %q is not an OpenSSH public key", i, k)
		}
		md.SSHKeys = append(md.SSHKeys, k)
	}
	for _, group := range []struct {
		name   string
		ifaces []ifaceDoc
		routes bool
	}{{"public", d.Interfaces.Public, true}, {"private", d.Interfaces.Private, false}} {
		for i, doc := range group.ifaces {
			iface, err := parseInterface(doc, group.routes)
			if err != nil {
				return nil, fmt.Errorf("metadata/v1.json: interfaces.%s[%d].%w", group.name, i, err)
			}
			for _, p := range iface.Addresses {
				md.Addresses = append(md.Addresses, p.Addr())
			}
			md.Network.Interfaces = append(md.Network.Interfaces, iface)
		}
	}
	for i, s := range d.DNS.Nameservers {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("metadata/v1.json: dns.nameservers[%d]: %w", i, err)
		}
		md.Network.Nameservers = append(md.Network.Nameservers, a)
	}
	for _, r := range []struct {
		field string
		doc   reservedIPDoc
	}{{"reserved_ip", d.ReservedIP}, {"floating_ip", d.FloatingIP}} {
		v4 := r.doc.IPv4
		if !v4.Active || v4.IPAddress == "" {
			continue
		}
		a, err := netip.ParseAddr(v4.IPAddress)
		if err != nil || !a.Is4() {
			return nil, fmt.Errorf("metadata/v1.json: %s.ipv4.ip_address: %q is not an IPv4 address", r.field, v4.IPAddress)
		}
		if !slices.Contains(md.PublicAddresses, a) {
			md.PublicAddresses = append(md.PublicAddresses, a)
		}
	}
	if len(md.Network.Interfaces) == 0 {
		md.Network = nil // nothing static to apply: DHCP
	}
	return md, nil
}

// parseInterface's errors start with the field name below the interface (the caller adds the
// path before it).
func parseInterface(d ifaceDoc, routes bool) (platform.Interface, error) {
	var iface platform.Interface
	mac, err := net.ParseMAC(d.MAC)
	if err != nil {
		return iface, fmt.Errorf("mac: %w", err)
	}
	iface.MAC = platform.MAC(mac)
	if v4 := d.IPv4; v4 != nil && v4.IPAddress != "" {
		a, err := netip.ParseAddr(v4.IPAddress)
		if err != nil || !a.Is4() {
			return iface, fmt.Errorf("ipv4.ip_address: %q is not an IPv4 address", v4.IPAddress)
		}
		bits, err := maskBits(v4.Netmask)
		if err != nil {
			return iface, fmt.Errorf("ipv4.netmask: %w", err)
		}
		iface.Addresses = append(iface.Addresses, netip.PrefixFrom(a, bits))
		if routes && v4.Gateway != "" {
			gw, err := netip.ParseAddr(v4.Gateway)
			if err != nil || !gw.Is4() {
				return iface, fmt.Errorf("ipv4.gateway: %q is not an IPv4 address", v4.Gateway)
			}
			iface.Routes = append(iface.Routes, platform.Route{To: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Via: gw})
		}
	}
	if v6 := d.IPv6; v6 != nil && v6.IPAddress != "" {
		a, err := netip.ParseAddr(v6.IPAddress)
		if err != nil || !a.Is6() {
			return iface, fmt.Errorf("ipv6.ip_address: %q is not an IPv6 address", v6.IPAddress)
		}
		if v6.CIDR < 1 || v6.CIDR > 128 {
			return iface, fmt.Errorf("ipv6.cidr: %d is not a prefix length", v6.CIDR)
		}
		iface.Addresses = append(iface.Addresses, netip.PrefixFrom(a, v6.CIDR))
		if routes && v6.Gateway != "" {
			gw, err := netip.ParseAddr(v6.Gateway)
			if err != nil || !gw.Is6() {
				return iface, fmt.Errorf("ipv6.gateway: %q is not an IPv6 address", v6.Gateway)
			}
			iface.Routes = append(iface.Routes, platform.Route{To: netip.PrefixFrom(netip.IPv6Unspecified(), 0), Via: gw})
		}
	}
	return iface, nil
}

// maskBits turns a dotted IPv4 netmask into a prefix length.
func maskBits(s string) (int, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return 0, fmt.Errorf("%q is not an IPv4 netmask", s)
	}
	b := a.As4()
	ones, bits := net.IPv4Mask(b[0], b[1], b[2], b[3]).Size()
	if bits == 0 {
		return 0, fmt.Errorf("%q is not a contiguous netmask", s)
	}
	return ones, nil
}
