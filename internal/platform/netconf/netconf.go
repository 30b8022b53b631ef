// Package netconf holds what the providers that publish network configuration (NoCloud,
// OpenStack) share: parsing addresses, netmasks and prefixes as those documents write
// them, with errors that name the document's field, and tidying the result.
package netconf

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/etcd-appliance/appliance/internal/platform"
)

// Addr parses an IP address (no zone, no prefix); path names the field in the error.
func Addr(path, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%s: %q is not an IP address", path, s)
	}
	return a.Unmap(), nil
}

// MAC parses a hardware address in any form net.ParseMAC knows.
func MAC(path, s string) (platform.MAC, error) {
	m, err := net.ParseMAC(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("%s: %q is not a MAC address", path, s)
	}
	return platform.MAC(m), nil
}

// MaskBits returns the prefix length a netmask means for addresses of the family of a:
// a dotted mask ("255.255.255.0", "ffff:ffff:ffff:ffff::") or a plain length ("24", "/64").
func MaskBits(path, mask string, a netip.Addr) (int, error) {
	mask = strings.TrimSpace(mask)
	if n, err := strconv.Atoi(strings.TrimPrefix(mask, "/")); err == nil {
		if n < 0 || n > a.BitLen() {
			return 0, fmt.Errorf("%s: prefix length %d is out of range for %s (0-%d)", path, n, a, a.BitLen())
		}
		return n, nil
	}
	m, err := netip.ParseAddr(mask)
	if err != nil || m.Zone() != "" {
		return 0, fmt.Errorf("%s: %q is not a netmask", path, mask)
	}
	m = m.Unmap()
	if m.BitLen() != a.BitLen() {
		return 0, fmt.Errorf("%s: netmask %s does not fit address %s (other IP family)", path, m, a)
	}
	ones, bits := net.IPMask(m.AsSlice()).Size()
	if bits == 0 {
		return 0, fmt.Errorf("%s: netmask %s is not contiguous", path, m)
	}
	return ones, nil
}

// Prefix joins an address written with or without "/length" and an optional netmask into
// a prefix that keeps the host bits (an interface address). addrPath and maskPath name the
// two fields in errors (maskPath "" when the document has no netmask field). A length given
// both ways must agree; none at all is an error.
func Prefix(addrPath, addr, maskPath, mask string) (netip.Prefix, error) {
	ip, bits, err := split(addrPath, addr)
	if err != nil {
		return netip.Prefix{}, err
	}
	if strings.TrimSpace(mask) != "" {
		mbits, err := MaskBits(maskPath, mask, ip)
		if err != nil {
			return netip.Prefix{}, err
		}
		if bits >= 0 && bits != mbits {
			return netip.Prefix{}, fmt.Errorf("%s: %q disagrees with %s %q", addrPath, addr, maskPath, mask)
		}
		bits = mbits
	}
	if bits < 0 && maskPath == "" {
		return netip.Prefix{}, fmt.Errorf("%s: %q has no prefix length: write it as %s/N", addrPath, addr, ip)
	}
	if bits < 0 {
		return netip.Prefix{}, fmt.Errorf("%s: %q has no prefix length: write it as %s/N or give %s", addrPath, addr, ip, maskPath)
	}
	return netip.PrefixFrom(ip, bits), nil
}

// Network is Prefix for a route destination: the result is masked to its network.
func Network(addrPath, addr, maskPath, mask string) (netip.Prefix, error) {
	p, err := Prefix(addrPath, addr, maskPath, mask)
	return p.Masked(), err
}

// split parses "a" or "a/n"; bits is -1 when no length is written.
func split(path, s string) (netip.Addr, int, error) {
	s = strings.TrimSpace(s)
	ip, length, found := strings.Cut(s, "/")
	a, err := Addr(path, ip)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("%s: %q is not an IP address", path, s)
	}
	if !found {
		return a, -1, nil
	}
	n, err := strconv.Atoi(length)
	if err != nil || n < 0 || n > a.BitLen() {
		return netip.Addr{}, 0, fmt.Errorf("%s: %q: prefix length %q is out of range (0-%d)", path, s, length, a.BitLen())
	}
	return a, n, nil
}

// DefaultRoute is the route to everywhere of via's family.
func DefaultRoute(via netip.Addr) platform.Route {
	return platform.Route{To: netip.PrefixFrom(AnyAddr(via), 0), Via: via}
}

// AnyAddr is the unspecified address of a's family (0.0.0.0 or ::).
func AnyAddr(a netip.Addr) netip.Addr {
	if a.Is4() {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}

// AppendUnique appends the items of add not already in list.
func AppendUnique[T comparable](list []T, add ...T) []T {
	for _, x := range add {
		dup := false
		for _, y := range list {
			if x == y {
				dup = true
				break
			}
		}
		if !dup {
			list = append(list, x)
		}
	}
	return list
}

// AttachRoute adds r to the first interface with a static address whose subnet holds r.Via,
// and reports whether there was one.
func AttachRoute(n *platform.Network, r platform.Route) bool {
	for i := range n.Interfaces {
		for _, p := range n.Interfaces[i].Addresses {
			if r.Via.IsValid() && p.Masked().Contains(r.Via) {
				n.Interfaces[i].Routes = append(n.Interfaces[i].Routes, r)
				return true
			}
		}
	}
	return false
}

// Addresses lists the static addresses of n's interfaces, each once, in order.
func Addresses(n *platform.Network) []netip.Addr {
	if n == nil {
		return nil
	}
	var out []netip.Addr
	for _, ifc := range n.Interfaces {
		for _, p := range ifc.Addresses {
			out = AppendUnique(out, p.Addr())
		}
	}
	return out
}

// OrNil returns nil for a network that says nothing (the platform's default, DHCP), else n.
func OrNil(n *platform.Network) *platform.Network {
	if n == nil || len(n.Interfaces) == 0 && len(n.Nameservers) == 0 && len(n.SearchDomains) == 0 && len(n.Routes) == 0 {
		return nil
	}
	return n
}
