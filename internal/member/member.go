// Package member decides which etcd member this node is and how etcd runs it: the member's
// identity from the cluster configuration and the machine's addresses, and the etcd
// environment file firstboot writes for etcd.service. It is pure: callers bring the facts.
package member

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/etcd-appliance/appliance/config"
)

// Self is the member this node runs.
type Self struct {
	Name string `json:"name"`
	// Address is the member's configured address (IP or DNS name); for a single-member
	// cluster without members it is the address this node advertises, or "" when it has none.
	Address string `json:"address,omitempty"`
	// Reason says how the member was found, for the console and inspect.
	Reason string `json:"reason"`
}

// Identify finds this node's member: node.name, else the member whose address is one of
// local (for a member given by DNS name: whose name resolved, in resolved, to one of local),
// else the member whose name or address is the hostname. Without cluster.members the node is
// a single-member cluster named by node.name or its hostname.
func Identify(c *config.Config, local []netip.Addr, resolved map[string][]netip.Addr, hostname string) (Self, error) {
	members := c.Cluster.Members
	if len(members) == 0 {
		s := Self{Name: c.Node.Name, Reason: "node.name"}
		if s.Name == "" {
			s.Name, s.Reason = DefaultName(hostname), "hostname (single-member cluster)"
		}
		if a, ok := Preferred(local); ok {
			s.Address = a.String()
		}
		return s, nil
	}
	if n := c.Node.Name; n != "" {
		for _, m := range members {
			if m.Name == n {
				return Self{Name: m.Name, Address: m.Address, Reason: "node.name"}, nil
			}
		}
		// config validation refuses this; kept for callers that skip it
		return Self{}, fmt.Errorf("node.name %q is not one of cluster.members", n)
	}
	var byAddr []config.Member
	reason := ""
	for _, m := range members {
		if ip, err := netip.ParseAddr(m.Address); err == nil {
			if slices.Contains(local, ip.Unmap()) {
				byAddr = append(byAddr, m)
				reason = "address " + m.Address + " is on this machine"
			}
			continue
		}
		for _, ip := range resolved[m.Address] {
			if slices.Contains(local, ip.Unmap()) {
				byAddr = append(byAddr, m)
				reason = "name " + m.Address + " resolves to " + ip.Unmap().String() + ", on this machine"
				break
			}
		}
	}
	switch len(byAddr) {
	case 1:
		return Self{Name: byAddr[0].Name, Address: byAddr[0].Address, Reason: reason}, nil
	case 0:
	default:
		return Self{}, fmt.Errorf("this machine has the addresses of several members (%s, %s): set node.name (a member given by DNS name counts by the addresses it resolves to)", byAddr[0].Name, byAddr[1].Name)
	}
	if h := strings.ToLower(strings.TrimSuffix(hostname, ".")); h != "" {
		short, _, _ := strings.Cut(h, ".")
		for _, m := range members {
			a := strings.ToLower(strings.TrimSuffix(m.Address, "."))
			if strings.ToLower(m.Name) == short || a == h || a == short {
				return Self{Name: m.Name, Address: m.Address, Reason: "hostname " + hostname}, nil
			}
		}
	}
	var unresolved []string
	for _, m := range members {
		if _, err := netip.ParseAddr(m.Address); err != nil && len(resolved[m.Address]) == 0 {
			unresolved = append(unresolved, m.Address)
		}
	}
	return Self{}, &NotFoundError{Local: local, Hostname: hostname, Members: members, Unresolved: unresolved}
}

// NotFoundError says why no member matched, with what the node looked at.
type NotFoundError struct {
	Local    []netip.Addr
	Hostname string
	Members  []config.Member
	// Unresolved are the members' DNS names that resolved to nothing: one of them may be
	// this node's.
	Unresolved []string
}

func (e *NotFoundError) Error() string {
	var addrs, ms []string
	for _, a := range e.Local {
		addrs = append(addrs, a.String())
	}
	for _, m := range e.Members {
		ms = append(ms, m.Name+"="+m.Address)
	}
	if len(addrs) == 0 {
		addrs = []string{"none"}
	}
	h := e.Hostname
	if h == "" {
		h = "(none)"
	}
	msg := fmt.Sprintf("cannot tell which member this node is: its addresses (%s) and hostname %s match none of cluster.members (%s)",
		strings.Join(addrs, ", "), h, strings.Join(ms, ", "))
	if len(e.Unresolved) > 0 {
		msg += fmt.Sprintf("; these names did not resolve: %s (check the DNS servers DHCP, the platform or network.dns give)", strings.Join(e.Unresolved, ", "))
	}
	return msg + "; set node.name or give this machine a member's address"
}

// DefaultName is the member name when nothing names one: the host's short name unless it is
// a placeholder.
func DefaultName(hostname string) string {
	h := strings.ToLower(strings.SplitN(hostname, ".", 2)[0])
	if h == "" || h == "localhost" || h == "(none)" {
		return "etcd"
	}
	return h
}

// Preferred picks the address a single member advertises: the first global IPv4 address,
// else the first global IPv6 one.
func Preferred(local []netip.Addr) (netip.Addr, bool) {
	for _, v4 := range []bool{true, false} {
		for _, a := range local {
			if a.Is4() == v4 && a.IsGlobalUnicast() {
				return a, true
			}
		}
	}
	return netip.Addr{}, false
}

// URL is https://host:port with IPv6 literals bracketed.
func URL(host string, port int) string {
	return "https://" + net.JoinHostPort(host, fmt.Sprint(port))
}
