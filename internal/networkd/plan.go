package networkd

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"unicode"

	"github.com/etcd-appliance/appliance/internal/platform"
)

type kind int

const (
	physical kind = iota
	bond
	vlan
)

// link is one interface with what the checks worked out about it.
type link struct {
	ifc      platform.Interface
	what     string // names it in errors: `interfaces[2] "bond0"`
	kind     kind
	base     string // file name without extension
	bondMode string // networkd's name for the mode; "" for the default
	master   *link  // the bond this link is a member of
	members  []*link
	parent   *link // a VLAN's link
	vlans    []*link
	routes   []platform.Route // its own, then the top-level ones placed on it
	dns      []netip.Addr
	domains  []string
}

// hasIP reports whether the link has IP configuration of its own (a bond member never does).
func (l *link) hasIP() bool {
	return l.ifc.DHCP4 || l.ifc.DHCP6 || len(l.ifc.Addresses) > 0 || len(l.routes) > 0
}

// assignMAC is the MAC a bond is given: the platform's, else its first member's.
func (l *link) assignMAC() platform.MAC {
	if len(l.ifc.MAC) > 0 {
		return l.ifc.MAC
	}
	for _, m := range l.members {
		if len(m.ifc.MAC) > 0 {
			return m.ifc.MAC
		}
	}
	return nil
}

// reaches reports whether traffic to a leaves by this link as far as its configuration says.
func (l *link) reaches(a netip.Addr) bool {
	if a.Is4() && l.ifc.DHCP4 || a.Is6() && l.ifc.DHCP6 {
		return true
	}
	for _, p := range l.ifc.Addresses {
		if p.Masked().Contains(a) {
			return true
		}
	}
	for _, r := range l.routes {
		if r.To.Masked().Contains(a) {
			return true
		}
	}
	return false
}

type plan struct{ links []*link }

// bondModes maps what platforms write to networkd's [Bond] Mode= names.
var bondModes = map[string]string{
	"balance-rr": "balance-rr", "0": "balance-rr",
	"active-backup": "active-backup", "1": "active-backup",
	"balance-xor": "balance-xor", "2": "balance-xor",
	"broadcast": "broadcast", "3": "broadcast",
	"802.3ad": "802.3ad", "4": "802.3ad",
	"balance-tlb": "balance-tlb", "5": "balance-tlb",
	"balance-alb": "balance-alb", "6": "balance-alb",
}

const bondModeList = "balance-rr, active-backup, balance-xor, broadcast, 802.3ad, balance-tlb, balance-alb"

// newPlan checks n and works out matches, file names, bond and VLAN wiring, route and
// nameserver placement. It returns the first problem found.
func newPlan(n *platform.Network) (*plan, error) {
	if n == nil {
		return &plan{}, nil
	}
	for i, a := range n.Nameservers {
		if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() {
			return nil, fmt.Errorf("nameservers[%d]: %v is not a nameserver address", i, a)
		}
	}
	for i, d := range n.SearchDomains {
		if err := checkDomain(d); err != nil {
			return nil, fmt.Errorf("search_domains[%d]: %w", i, err)
		}
	}
	for i, r := range n.Routes {
		if err := checkRoute(r); err != nil {
			return nil, fmt.Errorf("routes[%d]: %w", i, err)
		}
	}

	p := &plan{}
	for i := range n.Interfaces {
		l, err := newLink(i, n.Interfaces[i])
		if err != nil {
			return nil, err
		}
		p.links = append(p.links, l)
	}
	if err := p.checkUnique(); err != nil {
		return nil, err
	}
	for _, l := range p.links {
		if err := p.wire(l); err != nil {
			return nil, err
		}
	}
	for _, l := range p.links {
		if err := l.checkWiring(); err != nil {
			return nil, err
		}
	}
	for i, r := range n.Routes {
		if err := p.placeRoute(r); err != nil {
			return nil, fmt.Errorf("routes[%d] (to %s via %s): %w", i, r.To, r.Via, err)
		}
	}
	p.placeDNS(n.Nameservers, n.SearchDomains)
	return p, nil
}

// newLink checks what can be checked of one interface alone.
func newLink(i int, ifc platform.Interface) (*link, error) {
	l := &link{ifc: ifc, routes: slices.Clone(ifc.Routes)}
	switch {
	case ifc.Name != "":
		l.what = fmt.Sprintf("interfaces[%d] %q", i, ifc.Name)
	case len(ifc.MAC) > 0:
		l.what = fmt.Sprintf("interfaces[%d] (MAC %s)", i, ifc.MAC)
	default:
		return nil, fmt.Errorf("interfaces[%d]: neither a name nor a MAC address to match a link by", i)
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s: %s", l.what, fmt.Sprintf(format, args...))
	}

	switch {
	case len(ifc.Bond) > 0 && (ifc.VLAN != 0 || ifc.VLANLink != ""):
		return nil, fail("both a bond and a VLAN")
	case len(ifc.Bond) > 0:
		l.kind = bond
		m, ok := bondModes[strings.ToLower(strings.TrimSpace(ifc.BondMode))]
		if !ok && ifc.BondMode != "" {
			return nil, fail("bond mode %q is not one networkd knows (%s)", ifc.BondMode, bondModeList)
		}
		l.bondMode = m
	case ifc.VLAN != 0 || ifc.VLANLink != "":
		l.kind = vlan
		if ifc.VLAN < 1 || ifc.VLAN > 4094 {
			return nil, fail("VLAN id %d is out of range (1-4094)", ifc.VLAN)
		}
		if ifc.VLANLink == "" {
			return nil, fail("VLAN %d has no link to run on", ifc.VLAN)
		}
	case ifc.BondMode != "":
		return nil, fail("bond mode %q without bond members", ifc.BondMode)
	}

	if strings.IndexFunc(ifc.Name, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 {
		return nil, fail("name holds a space or control character")
	}
	if l.kind != physical {
		// The name is the device networkd creates: the kernel's rules apply.
		if err := checkKernelName(ifc.Name); err != nil {
			return nil, fail("%v", err)
		}
	} else if len(ifc.MAC) == 0 && strings.HasPrefix(ifc.Name, "!") {
		return nil, fail("a name starting with '!' would invert networkd's Name= match")
	}
	if len(ifc.MAC) > 0 {
		if err := checkMAC(ifc.MAC); err != nil {
			return nil, fail("%v", err)
		}
	}
	if ifc.MTU != 0 && (ifc.MTU < 68 || ifc.MTU > 65535) {
		return nil, fail("MTU %d is out of range (68-65535)", ifc.MTU)
	}
	for j, a := range ifc.Addresses {
		if !a.IsValid() || a.Addr().IsUnspecified() || a.Addr().IsMulticast() {
			return nil, fail("addresses[%d]: %v is not an interface address", j, a)
		}
	}
	for j, r := range ifc.Routes {
		if err := checkRoute(r); err != nil {
			return nil, fail("routes[%d]: %v", j, err)
		}
	}

	tier, label := "10", ifc.Name
	switch {
	case l.kind == physical && len(ifc.MAC) > 0:
		if label == "" || isGlob(label) {
			label = strings.ReplaceAll(ifc.MAC.String(), ":", "")
		}
	case l.kind == physical && isGlob(ifc.Name):
		tier = "30"
	case l.kind == physical:
		tier = "20"
	}
	l.base = tier + "-appliance-" + sanitize(label)
	return l, nil
}

// checkUnique rejects two interfaces that would share a name, a matched MAC or a file.
func (p *plan) checkUnique() error {
	names, macs, files := map[string]*link{}, map[string]*link{}, map[string]*link{}
	for _, l := range p.links {
		if name := l.ifc.Name; name != "" {
			if o, dup := names[name]; dup {
				return fmt.Errorf("%s: the name of %s too", l.what, o.what)
			}
			names[name] = l
		}
		if l.kind == physical && len(l.ifc.MAC) > 0 {
			mac := l.ifc.MAC.String()
			if o, dup := macs[mac]; dup {
				return fmt.Errorf("%s: MAC %s is %s's too: both would match the same link", l.what, mac, o.what)
			}
			macs[mac] = l
		}
		if o, dup := files[l.base]; dup {
			return fmt.Errorf("%s: would be written to %s like %s", l.what, l.base+".network", o.what)
		}
		files[l.base] = l
	}
	return nil
}

// find returns the interface a bond or VLAN refers to: by name, else by a physical link's
// MAC written as text.
func (p *plan) find(ref string) *link {
	for _, l := range p.links {
		if l.ifc.Name == ref {
			return l
		}
	}
	if mac, err := platform.ParseMAC(ref); err == nil {
		for _, l := range p.links {
			if l.kind == physical && l.ifc.MAC.String() == mac.String() {
				return l
			}
		}
	}
	return nil
}

// wire resolves a bond's members and a VLAN's link.
func (p *plan) wire(l *link) error {
	switch l.kind {
	case bond:
		for j, ref := range l.ifc.Bond {
			m := p.find(ref)
			switch {
			case m == nil:
				return fmt.Errorf("%s: bond member %q is not an interface of this network", l.what, ref)
			case m.kind != physical:
				return fmt.Errorf("%s: bond member %q is a bond or VLAN itself; members must be physical links", l.what, ref)
			case m.master == l:
				return fmt.Errorf("%s: bond member %q is listed twice (bond[%d])", l.what, ref, j)
			case m.master != nil:
				return fmt.Errorf("%s: bond member %q is a member of %s already", l.what, ref, m.master.what)
			}
			m.master = l
			l.members = append(l.members, m)
		}
	case vlan:
		parent := p.find(l.ifc.VLANLink)
		switch {
		case parent == nil:
			return fmt.Errorf("%s: VLAN link %q is not an interface of this network", l.what, l.ifc.VLANLink)
		case parent == l:
			return fmt.Errorf("%s: a VLAN cannot run on itself", l.what)
		}
		l.parent = parent
		parent.vlans = append(parent.vlans, l)
	}
	return nil
}

// checkWiring checks what depends on the bonds and VLANs around a link.
func (l *link) checkWiring() error {
	if m := l.master; m != nil {
		if l.ifc.DHCP4 || l.ifc.DHCP6 || len(l.ifc.Addresses) > 0 || len(l.ifc.Routes) > 0 {
			return fmt.Errorf("%s: a member of bond %q cannot have DHCP, addresses or routes of its own: put them on the bond", l.what, m.ifc.Name)
		}
		if len(l.vlans) > 0 {
			return fmt.Errorf("%s: a member of bond %q cannot carry VLAN %q: put it on the bond", l.what, m.ifc.Name, l.vlans[0].ifc.Name)
		}
		if l.ifc.MTU != 0 && m.ifc.MTU != 0 && l.ifc.MTU != m.ifc.MTU {
			return fmt.Errorf("%s: MTU %d differs from bond %q's %d, which the kernel gives its members", l.what, l.ifc.MTU, m.ifc.Name, m.ifc.MTU)
		}
	}
	if p := l.parent; p != nil && p.kind == physical && len(p.ifc.MAC) == 0 && isGlob(p.ifc.Name) {
		return fmt.Errorf("%s: runs on %q, a name pattern that may match several links", l.what, p.ifc.Name)
	}
	seen := map[*link]bool{l: true}
	for p := l.parent; p != nil; p = p.parent {
		if seen[p] {
			return fmt.Errorf("%s: its VLAN links run in a circle", l.what)
		}
		seen[p] = true
	}
	if p := l.parent; p != nil && l.ifc.MTU != 0 && p.ifc.MTU != 0 && l.ifc.MTU > p.ifc.MTU {
		return fmt.Errorf("%s: MTU %d is larger than its link %q's %d", l.what, l.ifc.MTU, p.ifc.Name, p.ifc.MTU)
	}
	return nil
}

// placeRoute puts a route the platform did not tie to a link on the first link with a
// static subnet holding its gateway.
func (p *plan) placeRoute(r platform.Route) error {
	if !r.Via.IsValid() {
		return errors.New("no gateway to choose its interface by")
	}
	for _, l := range p.links {
		for _, a := range l.ifc.Addresses {
			if a.Masked().Contains(r.Via) {
				l.routes = append(l.routes, r)
				return nil
			}
		}
	}
	return fmt.Errorf("no interface has a static address in a subnet holding %s", r.Via)
}

// placeDNS gives each nameserver to the links that reach it (all links with IP configuration
// when none does), and the search domains to the links that got nameservers.
func (p *plan) placeDNS(servers []netip.Addr, domains []string) {
	var ip []*link
	for _, l := range p.links {
		if l.master == nil && l.hasIP() {
			ip = append(ip, l)
		}
	}
	for _, a := range servers {
		var to []*link
		for _, l := range ip {
			if l.reaches(a) {
				to = append(to, l)
			}
		}
		if len(to) == 0 {
			to = ip
		}
		for _, l := range to {
			if !slices.Contains(l.dns, a) {
				l.dns = append(l.dns, a)
			}
		}
	}
	for _, l := range ip {
		if len(servers) == 0 || len(l.dns) > 0 {
			l.domains = slices.Clone(domains)
		}
	}
}

func checkRoute(r platform.Route) error {
	if !r.To.IsValid() {
		return errors.New("no destination")
	}
	if r.Via.IsValid() {
		if r.Via.Is4() != r.To.Addr().Is4() {
			return fmt.Errorf("gateway %s and destination %s are of different IP families", r.Via, r.To)
		}
		if r.Via.IsUnspecified() || r.Via.IsMulticast() {
			return fmt.Errorf("%s is not a gateway address", r.Via)
		}
	}
	if r.Metric < 0 || r.Metric > math.MaxUint32 {
		return fmt.Errorf("metric %d is out of range (0-%d)", r.Metric, uint32(math.MaxUint32))
	}
	return nil
}

// checkMAC accepts what can be a link's unicast Ethernet address.
func checkMAC(m platform.MAC) error {
	switch {
	case len(m) != 6:
		return fmt.Errorf("MAC %s is not an Ethernet address", m)
	case !slices.ContainsFunc(m, func(b byte) bool { return b != 0 }):
		return fmt.Errorf("MAC %s is a placeholder that matches no link", m)
	case m[0]&1 != 0:
		return fmt.Errorf("MAC %s is a multicast address", m)
	}
	return nil
}

// checkKernelName applies the kernel's rules for a device name (dev_valid_name).
func checkKernelName(name string) error {
	switch {
	case name == "":
		return errors.New("a bond or VLAN needs a name for the device")
	case len(name) > 15:
		return fmt.Errorf("device name %q is longer than 15 bytes", name)
	case name == "." || name == "..":
		return fmt.Errorf("device name %q is reserved", name)
	case strings.ContainsAny(name, "/:"):
		return fmt.Errorf("device name %q holds '/' or ':'", name)
	case isGlob(name):
		return fmt.Errorf("device name %q is a pattern, not a name", name)
	}
	return nil
}

func checkDomain(d string) error {
	switch {
	case d == "":
		return errors.New("empty search domain")
	case strings.HasPrefix(d, "~"):
		// networkd would take it as a routing-only domain, not a search domain.
		return fmt.Errorf("search domain %q starts with '~'", d)
	case strings.IndexFunc(d, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0:
		return fmt.Errorf("search domain %q holds a space or control character", d)
	}
	return nil
}

// isGlob reports whether a name is one of the shell patterns networkd's Name= takes.
func isGlob(name string) bool { return strings.ContainsAny(name, "*?[") }

// sanitize makes a label safe in a file name.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '-' || r == '_') {
			return r
		}
		return '_'
	}, s)
}
