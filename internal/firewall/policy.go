// Package firewall is the node's packet filter: a pure Policy (who may reach which port),
// the nftables table that enforces it, and the one-line description `status` shows.
//
// Inbound traffic is denied unless a rule allows it. Members reach every etcd port; the
// client port is open to network.clients_from, the metrics ports to network.metrics_from,
// SSH (only when keys are given) to network.ssh_from. Outbound traffic is allowed, except
// HTTP(S) to the cloud metadata servers from any user but root: the user-data there may hold
// the cluster CA key.
package firewall

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// The ports the filter knows. They are etcd's and the agent's (see internal/member), kept
// here as numbers so that this package stands alone.
const (
	ClientPort       = 2379
	PeerPort         = 2380
	MetricsPort      = 2381
	AgentMetricsPort = 2382
	SSHPort          = 22
)

// TableName is the nftables table the node owns; nothing else is touched.
const TableName = "etcd_appliance"

// MetadataAddrs are the clouds' instance metadata services: AWS, GCP, Azure, OpenStack,
// DigitalOcean and Hetzner answer at 169.254.169.254 (AWS also at fd00:ec2::254); Azure's
// WireServer at 168.63.129.16 hands out the same provisioning data.
var MetadataAddrs = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"),
	netip.MustParseAddr("fd00:ec2::254"),
	netip.MustParseAddr("168.63.129.16"),
}

// MetadataPorts are the metadata services' HTTP ports that only root may reach. DNS and NTP
// on the same addresses (GCP, Azure) stay open to the resolver and the time client.
var MetadataPorts = []uint16{80, 443}

// Policy is who may reach this node.
type Policy struct {
	Members []netip.Addr   // every member's addresses: all etcd ports
	Clients []netip.Prefix // 2379 besides the members
	Metrics []netip.Prefix // 2381 and 2382 besides the members
	SSH     []netip.Prefix // 22; nil or empty: SSH is closed
}

// Allow is one accepted (port, source) pair.
type Allow struct {
	Port uint16
	From netip.Prefix
}

// Allows lists what the policy accepts, members first, each pair once, in a stable order.
func (p Policy) Allows() []Allow {
	var out []Allow
	seen := map[Allow]bool{}
	add := func(ports []uint16, from []netip.Prefix) {
		for _, port := range ports {
			for _, f := range from {
				a := Allow{Port: port, From: f.Masked()}
				if !seen[a] {
					seen[a] = true
					out = append(out, a)
				}
			}
		}
	}
	add([]uint16{PeerPort, ClientPort, MetricsPort, AgentMetricsPort}, hosts(p.Members))
	add([]uint16{ClientPort}, p.Clients)
	add([]uint16{MetricsPort, AgentMetricsPort}, p.Metrics)
	add([]uint16{SSHPort}, p.SSH)
	return out
}

// hosts turns addresses into single-address prefixes, sorted, each once.
func hosts(addrs []netip.Addr) []netip.Prefix {
	var out []netip.Prefix
	for _, a := range addrs {
		a = a.Unmap().WithZone("")
		if a.IsValid() {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	slices.SortFunc(out, func(x, y netip.Prefix) int { return x.Addr().Compare(y.Addr()) })
	return slices.Compact(out)
}

// String is the policy in one line, as `status` shows it.
func (p Policy) String() string {
	members := hosts(p.Members)
	var b strings.Builder
	fmt.Fprintf(&b, "inbound denied except: %d from %s; %d from %s; %d,%d from %s",
		PeerPort, count(len(members), "member"),
		ClientPort, withMembers(members, p.Clients),
		MetricsPort, AgentMetricsPort, withMembers(members, p.Metrics))
	if len(p.SSH) == 0 {
		fmt.Fprintf(&b, "; %d closed", SSHPort)
	} else {
		fmt.Fprintf(&b, "; %d from %s", SSHPort, prefixes(p.SSH))
	}
	b.WriteString("; metadata HTTP for root only")
	return b.String()
}

func withMembers(members, extra []netip.Prefix) string {
	s := count(len(members), "member")
	if len(extra) > 0 {
		s += ", " + prefixes(extra)
	}
	return s
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func prefixes(ps []netip.Prefix) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	return strings.Join(s, ",")
}

// ParsePrefixes parses CIDRs (or single addresses, taken as /32 or /128) from the config.
// field names the list in errors.
func ParsePrefixes(field string, list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, s := range list {
		p, err := parsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %q is not an address or CIDR (e.g. 192.0.2.0/24, 2001:db8::/32 or 0.0.0.0/0 for anywhere)", field, i, s)
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("not an address")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
