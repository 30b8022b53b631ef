// Package networkd renders a platform's network configuration (platform.Network) as
// systemd-networkd files. firstboot writes them to /run/systemd/network (Write), which networkd
// reads before /usr/lib/systemd/network, and runs `networkctl reload`. Links the platform does not
// describe keep the image's catch-all 99-appliance-dhcp.network (DHCP on en* and eth*), and
// so does every link when the platform describes none: Render(nil) is no files.
//
// Decisions, each for a reason:
//
//   - File names are <tier>-appliance-<label>.{network,netdev}. networkd applies the first
//     .network file, in lexical order, whose [Match] fits a link, so the tier puts the most
//     specific match first: 10 for links matched by MAC and for the bonds and VLANs this
//     package creates, 20 for physical links matched by exact name, 30 for name globs
//     (NoCloud v2 allows "enp*"); all sort before the catch-all's 80. The label is the
//     interface's name, else its MAC without colons, with characters other than letters,
//     digits, '.', '-' and '_' replaced by '_'.
//   - A physical link is matched by MAC when the platform gives one, else by Name=, always
//     with Type=ether: a VLAN inherits its parent's MAC and could match a name glob too,
//     and Type=ether keeps VLANs and bonds out. Bond members are matched with
//     PermanentMACAddress= instead of MACAddress=: enslaving a link gives it the bond's MAC, so
//     after that every member, and the bond itself, shows the same current address. Other
//     links keep MACAddress=, because some virtual NICs report no permanent address and a
//     PermanentMACAddress= match would silently leave them on the DHCP catch-all.
//   - A bond or VLAN is a .netdev named after the interface (its Name is required and must
//     be a valid kernel name) plus a .network matched by that name. A platform MAC on a bond
//     or VLAN is the address to give it (MACAddress= in [NetDev]); a bond without one takes
//     the MAC of its first member with a known MAC, as a kernel-created bond would, rather
//     than the address networkd would otherwise derive from machine-id, which switches and
//     DHCP servers set up for the hardware do not know (members known only by name leave
//     networkd's address). Bonds get MIIMonitorSec=100ms: the platform model carries no
//     link-monitoring setting, and a bond without one never notices a dead member.
//   - Bond modes are networkd's names, which are cloud-init's and the kernel's too, matched
//     without regard to case; the kernel's numbers 0-6 (ifupdown's bond-mode 4) are accepted as
//     well. No mode means networkd's default, balance-rr.
//   - Bond members carry no addressing (an error otherwise): they get Bond= and link-local
//     addressing off. A link with no DHCP, addresses or routes (a VLAN carrier, say) gets
//     DHCP, link-local addressing and RAs off: the platform said it has no IP configuration.
//   - IPv6AcceptRA=yes exactly when DHCP6 is on: DHCPv6 gives neither prefix length nor
//     routes, and networkd starts its DHCPv6 client from an RA, so DHCP6 needs RAs; the
//     providers already map SLAAC-only subnets to DHCP6. Elsewhere RAs are off, so a link
//     the platform configured statically does not grow SLAAC addresses or a second default
//     route. Links with IP configuration get LinkLocalAddressing=ipv6, as the catch-all does,
//     and a DHCPv4 link takes the DHCP search domains (UseDomains=yes) as the catch-all does.
//   - Nameservers are global in the platform model but per link in networkd (resolved binds
//     each link's servers to that link), so each goes on the links that reach it: a static
//     subnet or route holds it, or DHCP of its family runs there; when no link does, on every
//     link with IP configuration. Search domains go on the links that got nameservers, or on
//     every such link when there are none. With no interfaces at all, nameservers are
//     dropped: every link is on DHCP then, which brings its own. DNS= and Domains= reach a
//     resolver only through systemd-resolved (or whoever reads networkd's link state).
//   - Network.Routes (not tied to a link) go on the first interface with a static address
//     whose subnet holds the route's Via; a route no static subnet reaches is an error, not a
//     guess.
//   - Every [Route] states Destination=, 0.0.0.0/0 or ::/0 for a default route, so no reader
//     needs to know what an omitted destination means. GatewayOnLink=yes is set when the
//     gateway is in none of the link's static subnets (Hetzner's 172.31.1.1 beside a /32, a
//     gateway given next to DHCP): the kernel would otherwise refuse the route as unreachable
//     or networkd would hold it back. IPv6 link-local gateways (fe80::1) are on-link anyway.
//   - Input is checked before anything is rendered (Validate), and the first problem is
//     reported with the interface's index and name, so firstboot can refuse the whole set
//     rather than apply half of it.
package networkd

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/etcd-appliance/appliance/internal/platform"
)

// File is one networkd configuration file: its name in the network directory and its text.
type File struct {
	Name string
	Data []byte
}

// Files is a rendered configuration, sorted by name.
type Files []File

// Render validates n and returns its networkd files, sorted by name. A nil Network, or one
// without interfaces, renders no files.
func Render(n *platform.Network) (Files, error) {
	p, err := newPlan(n)
	if err != nil {
		return nil, err
	}
	var out Files
	for _, l := range p.links {
		if l.kind != physical {
			out = append(out, File{l.base + ".netdev", renderNetdev(l)})
		}
		out = append(out, File{l.base + ".network", renderNetwork(l)})
	}
	slices.SortFunc(out, func(a, b File) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Validate reports the first reason n cannot be rendered, or nil.
func Validate(n *platform.Network) error {
	_, err := newPlan(n)
	return err
}

// header opens every file so someone reading /run/systemd/network knows where it came from.
const header = "# Written by the etcd appliance's firstboot from the platform's network configuration.\n"

func renderNetdev(l *link) []byte {
	var u unit
	u.section("NetDev")
	u.set("Name", l.ifc.Name)
	switch l.kind {
	case bond:
		u.set("Kind", "bond")
		if mac := l.assignMAC(); mac != nil {
			u.set("MACAddress", mac.String())
		}
		u.section("Bond")
		if l.bondMode != "" {
			u.set("Mode", l.bondMode)
		}
		u.set("MIIMonitorSec", "100ms")
	case vlan:
		u.set("Kind", "vlan")
		if len(l.ifc.MAC) > 0 {
			u.set("MACAddress", l.ifc.MAC.String())
		}
		u.section("VLAN")
		u.set("Id", fmt.Sprint(l.ifc.VLAN))
	}
	return u.bytes()
}

func renderNetwork(l *link) []byte {
	var u unit
	u.section("Match")
	switch {
	case l.kind != physical:
		u.set("Name", l.ifc.Name)
	case l.master != nil && len(l.ifc.MAC) > 0:
		u.set("PermanentMACAddress", l.ifc.MAC.String())
		u.set("Type", "ether")
	case len(l.ifc.MAC) > 0:
		u.set("MACAddress", l.ifc.MAC.String())
		u.set("Type", "ether")
	default:
		u.set("Name", l.ifc.Name)
		u.set("Type", "ether")
	}

	if l.ifc.MTU > 0 {
		u.section("Link")
		u.set("MTUBytes", fmt.Sprint(l.ifc.MTU))
	}

	u.section("Network")
	switch {
	case l.master != nil:
		u.set("Bond", l.master.ifc.Name)
		u.set("LinkLocalAddressing", "no")
		u.set("IPv6AcceptRA", "no")
	case !l.hasIP():
		u.set("DHCP", "no")
		u.set("LinkLocalAddressing", "no")
		u.set("IPv6AcceptRA", "no")
	default:
		u.set("DHCP", dhcpValue(l.ifc.DHCP4, l.ifc.DHCP6))
		u.set("LinkLocalAddressing", "ipv6")
		u.set("IPv6AcceptRA", yesNo(l.ifc.DHCP6))
		for _, a := range l.ifc.Addresses {
			u.set("Address", a.String())
		}
		for _, a := range l.dns {
			u.set("DNS", a.String())
		}
		if len(l.domains) > 0 {
			u.set("Domains", strings.Join(l.domains, " "))
		}
	}
	for _, v := range l.vlans {
		u.set("VLAN", v.ifc.Name)
	}

	if l.master == nil && l.ifc.DHCP4 {
		u.section("DHCPv4")
		u.set("UseDomains", "yes")
	}

	for _, r := range l.routes {
		u.section("Route")
		u.set("Destination", r.To.Masked().String())
		if r.Via.IsValid() {
			u.set("Gateway", r.Via.String())
			if !l.onLink(r.Via) {
				u.set("GatewayOnLink", "yes")
			}
		}
		if r.Metric > 0 {
			u.set("Metric", fmt.Sprint(r.Metric))
		}
	}
	return u.bytes()
}

func dhcpValue(v4, v6 bool) string {
	switch {
	case v4 && v6:
		return "yes"
	case v4:
		return "ipv4"
	case v6:
		return "ipv6"
	}
	return "no"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// onLink reports whether the kernel will accept gw as a gateway on this link without
// GatewayOnLink: one of the link's static subnets holds it, or it is IPv6 link-local.
func (l *link) onLink(gw netip.Addr) bool {
	if gw.Is6() && gw.IsLinkLocalUnicast() {
		return true
	}
	for _, p := range l.ifc.Addresses {
		if p.Masked().Contains(gw) {
			return true
		}
	}
	return false
}

// unit builds an INI-style networkd file. Values are validated before they get here: none
// holds a newline.
type unit struct{ b strings.Builder }

func (u *unit) section(name string) {
	if u.b.Len() == 0 {
		u.b.WriteString(header)
	}
	u.b.WriteString("\n[" + name + "]\n")
}

func (u *unit) set(key, value string) { u.b.WriteString(key + "=" + value + "\n") }

func (u *unit) bytes() []byte { return []byte(u.b.String()) }
