package firewall

import (
	"context"
	"net/netip"
	"net/url"
	"slices"
	"time"
)

// Settings are the policy's inputs from the configuration. firstboot records them for the
// agent, which keeps the filter in step with them and with etcd's member list.
type Settings struct {
	Hosts   []string       `json:"hosts,omitempty"` // the configured members' addresses: IPs or DNS names
	Clients []netip.Prefix `json:"clients,omitempty"`
	Metrics []netip.Prefix `json:"metrics,omitempty"`
	SSH     []netip.Prefix `json:"ssh,omitempty"` // empty: SSH is closed
}

// Anywhere is the default of clients_from and ssh_from.
var Anywhere = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}

// LookupTimeout bounds each name's lookup: a hanging resolver must hold neither the boot nor
// the agent's round.
const LookupTimeout = 2 * time.Second

// LookupFunc resolves a DNS name.
type LookupFunc func(ctx context.Context, host string) ([]netip.Addr, error)

// Policy resolves the configured hosts and more (e.g. the hosts of etcd's member URLs) into
// the policy; known are addresses that are members whatever the names say (this node's own).
// Names that do not resolve are returned: their members stay filtered until they do.
func (s Settings) Policy(ctx context.Context, lookup LookupFunc, more []string, known []netip.Addr) (Policy, []string) {
	p := Policy{Clients: s.Clients, Metrics: s.Metrics, SSH: s.SSH, Members: slices.Clone(known)}
	var unresolved []string
	names := append(slices.Clone(s.Hosts), more...)
	slices.Sort(names)
	for _, h := range slices.Compact(names) {
		if a, err := netip.ParseAddr(h); err == nil {
			p.Members = append(p.Members, a)
			continue
		}
		if lookup == nil {
			unresolved = append(unresolved, h)
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, LookupTimeout)
		addrs, err := lookup(lctx, h)
		cancel()
		if err != nil || len(addrs) == 0 {
			unresolved = append(unresolved, h)
			continue
		}
		p.Members = append(p.Members, addrs...)
	}
	p.Members = addrsOf(hosts(p.Members))
	return p, unresolved
}

func addrsOf(ps []netip.Prefix) []netip.Addr {
	var out []netip.Addr
	for _, p := range ps {
		out = append(out, p.Addr())
	}
	return out
}

// URLHosts are the hosts of etcd member URLs (https://host:port), each once.
func URLHosts(urls []string) []string {
	var out []string
	for _, u := range urls {
		pu, err := url.Parse(u)
		if err != nil || pu.Host == "" {
			continue
		}
		out = append(out, pu.Hostname())
	}
	slices.Sort(out)
	return slices.Compact(out)
}
