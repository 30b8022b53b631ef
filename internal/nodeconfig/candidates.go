package nodeconfig

import (
	"context"
	"net/netip"
	"slices"
)

// Which addresses identify this node's member, kept apart from plan(): it passes them to
// member.Identify and waits with them, and they are the only part of it this file decides.

// addrSource is where plan gets the addresses to identify the member by: the machine's
// (Options.Addrs), or with Options.AddrsFromMetadata the metadata's interface addresses, at
// once (firstboot inspect off the node: the host's addresses say nothing about the node).
func (r *Resolved) addrSource(opts Options) func(context.Context, func([]netip.Addr) bool) ([]netip.Addr, error) {
	if !opts.AddrsFromMetadata {
		return opts.Addrs
	}
	return func(context.Context, func([]netip.Addr) bool) ([]netip.Addr, error) {
		return slices.Clone(r.Metadata.Addresses), nil
	}
}

// candidateAddrs are the addresses a listed member is identified by: local (on the machine's
// interfaces), then the platform's public addresses, which are NAT'd to the machine and on no
// interface. Without listed members there is nothing to match: the single member advertises
// one of local, never a NAT'd address.
func candidateAddrs(local []netip.Addr, public []netip.Addr, listed bool) []netip.Addr {
	if !listed || len(public) == 0 {
		return local
	}
	out := slices.Clone(local)
	for _, a := range public {
		if a = a.Unmap(); a.IsValid() && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// candidates is candidateAddrs for this configuration and metadata.
func (r *Resolved) candidates(local []netip.Addr) []netip.Addr {
	return candidateAddrs(local, r.Metadata.PublicAddresses, len(r.Config.Cluster.Members) > 0)
}

// reached tells whether the identified member's address addr is usable with local: on an
// interface, or, for a public address, once the machine has any address (the NAT delivers to
// one; the public address itself never appears locally, so waiting for it would never end).
func (r *Resolved) reached(local []netip.Addr, addr string) bool {
	if slicesContainsAddr(local, addr) {
		return true
	}
	ip, err := netip.ParseAddr(addr)
	return err == nil && len(local) > 0 && slices.Contains(r.Metadata.PublicAddresses, ip.Unmap())
}

// publicReason says so when the member was identified by a public address: member.Identify
// sees only a list of addresses and would call it one "on this machine".
func (r *Resolved) publicReason(local []netip.Addr) {
	ip, err := netip.ParseAddr(r.Member.Address)
	if err != nil || slices.Contains(local, ip.Unmap()) || !slices.Contains(r.Metadata.PublicAddresses, ip.Unmap()) {
		return
	}
	r.Member.Reason = "public address " + ip.Unmap().String() + " is NATed to this machine (" + r.Platform + " metadata)"
}
